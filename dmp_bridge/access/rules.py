"""May actor A do action X on document D (or record R), and why not: ``decide`` (DMP-ACL-1..3).

Pure: facts in (the request, the patient's settings, the document's flags, the time, the
matrix), a ``Decision`` with a stable ``Reason`` out; no I/O and no clock. Choices where the
rules are silent are marked (chosen):

- A blocked professional has no access at all (DMP-ACL-3): refused first, even as the author of
  the document, even in an emergency mode (chosen: "no access at all" admits no exception).
- Emergency modes (``bris_de_glace``, ``centre_15``) only read and list; they are refused when the
  patient opposed (DMP-ACL-3); bris de glace needs a justification; centre 15 a regulator. They
  do not lift masking, confidentiality nor the matrix (chosen: the emergency is traced and
  notified, it does not reveal what the patient hid).
- Professionals read (DMP-ACL-2, checked in this order): ``V`` only by the author (chosen);
  a document masked by the patient, ``MASQUE_PS`` and ``R`` (chosen: like ``MASQUE_PS``) only by
  the author and the médecin traitant; otherwise the matrix (DMP-ACL-1), which the author and the
  médecin traitant bypass (the documented default of the matrix file).
- Replace and delete: the author or the author's organisation (DMP-DOC-1, 901); the announcement
  consultation is marked by the author or the médecin traitant (chosen).
- ``INVISIBLE_PATIENT``: hidden from the patient (and from legal representatives, chosen) until the
  announcement consultation, visible automatically one calendar month after submission; the patient
  is told after two weeks (``notice_due``). ``INVISIBLE_REPRESENTANTS_LEGAUX`` and
  ``INVISIBLE_REP_LEGAUX`` hide from legal representatives.
- Logically deleted documents are available to no one; replaced versions may still be read.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from dmp_bridge.access.actors import Actor, LegalRepresentative, Patient, Professional, Regulator
from dmp_bridge.access.matrix import Matrix
from dmp_bridge.store.access_models import (
    AccessMode,
    Action,
    DocumentFlags,
    PatientSettings,
    Reason,
)
from dmp_bridge.store.models import DocumentStatus, StoredDocument

MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REP_LEGAUX = frozenset({"INVISIBLE_REPRESENTANTS_LEGAUX", "INVISIBLE_REP_LEGAUX"})
RESTRICTED, VERY_RESTRICTED = "R", "V"
NOTICE_DELAY = timedelta(weeks=2)  # DMP-ACL-2: the patient is told after 2 weeks

EMERGENCY_MODES = frozenset({AccessMode.BRIS_DE_GLACE, AccessMode.CENTRE_15})
EMERGENCY_ACTIONS = frozenset({Action.READ, Action.LIST})
PROFESSIONAL_ACTIONS = frozenset(
    {Action.READ, Action.LIST, Action.FILE, Action.REPLACE, Action.DELETE, Action.ANNOUNCE}
)
PATIENT_ACTIONS = frozenset(
    {Action.READ, Action.LIST, Action.MASK, Action.UNMASK, Action.MANAGE, Action.READ_TRACES}
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: allowed or not, and the stable reason (``Reason.GRANTED`` when allowed)."""

    allowed: bool
    reason: Reason

    @classmethod
    def grant(cls) -> Decision:
        return cls(True, Reason.GRANTED)

    @classmethod
    def refuse(cls, reason: Reason) -> Decision:
        return cls(False, reason)


GRANTED = Decision.grant()


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """Actor ``actor`` wants to do ``action`` on the record ``ins`` (or on its ``document``)."""

    actor: Actor
    action: Action
    ins: str
    document: StoredDocument | None = None
    mode: AccessMode = AccessMode.NORMAL
    justification: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the store knows: the patient's settings, the document's flags, and the time."""

    settings: PatientSettings
    now: datetime
    flags: DocumentFlags | None = None


def decide(request: AccessRequest, facts: Facts, matrix: Matrix) -> Decision:
    """DMP-ACL-1..3: may ``request.actor`` do ``request.action``, and why not."""
    document = request.document
    if document is not None and document.patient_ins != request.ins:
        return Decision.refuse(Reason.OTHER_PATIENT)
    actor = request.actor
    if isinstance(actor, Professional):
        return _professional(actor, request, facts, matrix)
    if isinstance(actor, Patient) and actor.ins != request.ins:
        return Decision.refuse(Reason.OTHER_PATIENT)
    if (
        isinstance(actor, LegalRepresentative)
        and actor.representative_id not in facts.settings.legal_representatives
    ):
        return Decision.refuse(Reason.NOT_REPRESENTATIVE)
    return _patient_side(request, facts)


# --- patients and legal representatives ------------------------------------------------------


def _patient_side(request: AccessRequest, facts: Facts) -> Decision:
    if request.mode is not AccessMode.NORMAL:
        return Decision.refuse(Reason.MODE_NOT_ALLOWED)
    if request.action not in PATIENT_ACTIONS:
        return Decision.refuse(Reason.ACTION_NOT_ALLOWED)
    document = request.document
    if document is None:
        return GRANTED
    if document.status is DocumentStatus.DELETED:
        return Decision.refuse(Reason.NOT_AVAILABLE)
    codes = set(document.confidentiality)
    if INVISIBLE_PATIENT in codes and not visible_to_patient(document, facts.flags, facts.now):
        return Decision.refuse(Reason.INVISIBLE_PATIENT)  # DMP-ACL-2
    if isinstance(request.actor, LegalRepresentative) and codes & INVISIBLE_REP_LEGAUX:
        return Decision.refuse(Reason.INVISIBLE_REPRESENTANTS_LEGAUX)  # DMP-ACL-2, both spellings
    return GRANTED


def visible_to_patient(
    document: StoredDocument, flags: DocumentFlags | None, now: datetime
) -> bool:
    """DMP-ACL-2: an ``INVISIBLE_PATIENT`` document is visible once announced, or one calendar
    month after its submission."""
    if flags is not None and flags.announced_at is not None and flags.announced_at <= now:
        return True
    return now >= add_months(document.submission_time, 1)


def notice_due(document: StoredDocument) -> datetime:
    """DMP-ACL-2: when the patient is told of a new document (after 2 weeks if invisible)."""
    if INVISIBLE_PATIENT in document.confidentiality:
        return document.submission_time + NOTICE_DELAY
    return document.submission_time


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the month's length (31 Jan → 28 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- professionals ----------------------------------------------------------------------------


def _professional(
    actor: Professional, request: AccessRequest, facts: Facts, matrix: Matrix
) -> Decision:
    if actor.rpps in facts.settings.blocked:
        return Decision.refuse(Reason.BLOCKED)  # DMP-ACL-3: no access at all
    mode = _mode(actor, request, facts.settings)
    if not mode.allowed:
        return mode
    if request.action not in PROFESSIONAL_ACTIONS:
        return Decision.refuse(Reason.ACTION_NOT_ALLOWED)
    document = request.document
    if document is None:
        return GRANTED
    if document.status is DocumentStatus.DELETED:
        return Decision.refuse(Reason.NOT_AVAILABLE)
    if request.action in (Action.REPLACE, Action.DELETE):
        return _author_or_org(actor, document)
    if request.action is Action.ANNOUNCE:
        return _author_or_treating(actor, document, facts.settings)
    return _read(actor, document, facts, matrix)


def _mode(actor: Professional, request: AccessRequest, settings: PatientSettings) -> Decision:
    """DMP-ACL-3: the emergency modes, their actors, justification and the patient's opposition."""
    if request.mode not in EMERGENCY_MODES:
        return GRANTED
    if request.action not in EMERGENCY_ACTIONS:
        return Decision.refuse(Reason.MODE_NOT_ALLOWED)
    if request.mode is AccessMode.CENTRE_15 and not isinstance(actor, Regulator):
        return Decision.refuse(Reason.MODE_NOT_ALLOWED)
    if request.mode is AccessMode.BRIS_DE_GLACE and not (request.justification or "").strip():
        return Decision.refuse(Reason.JUSTIFICATION_REQUIRED)
    if settings.opposes_emergency:
        return Decision.refuse(Reason.EMERGENCY_OPPOSED)
    return GRANTED


def _read(actor: Professional, document: StoredDocument, facts: Facts, matrix: Matrix) -> Decision:
    """DMP-ACL-1/2/3 for a professional reading (or listing) one document."""
    codes = set(document.confidentiality)
    author = actor.rpps == document.author_id
    treating = author or actor.rpps == facts.settings.medecin_traitant
    hidden_from_others = (
        (VERY_RESTRICTED in codes and not author, Reason.CONFIDENTIALITY_V),
        (facts.flags is not None and facts.flags.masked_by_patient, Reason.MASKED_BY_PATIENT),
        (MASQUE_PS in codes, Reason.MASQUE_PS),
        (RESTRICTED in codes, Reason.CONFIDENTIALITY_R),
    )
    for hidden, reason in hidden_from_others:
        if hidden and (not treating or reason is Reason.CONFIDENTIALITY_V):
            return Decision.refuse(reason)
    if treating:
        return GRANTED
    if not matrix.may_read(
        actor.profession, actor.speciality, document.type_code, document.class_code
    ):
        return Decision.refuse(Reason.MATRIX)  # DMP-ACL-1
    return GRANTED


def _author_or_org(actor: Professional, document: StoredDocument) -> Decision:
    """DMP-DOC-1: the author or the author's organisation (else 901)."""
    same_org = actor.organisation is not None and actor.organisation == document.author_org
    if actor.rpps == document.author_id or same_org:
        return GRANTED
    return Decision.refuse(Reason.NOT_AUTHOR)


def _author_or_treating(
    actor: Professional, document: StoredDocument, settings: PatientSettings
) -> Decision:
    if actor.rpps in (document.author_id, settings.medecin_traitant):
        return GRANTED
    return Decision.refuse(Reason.NOT_AUTHOR)
