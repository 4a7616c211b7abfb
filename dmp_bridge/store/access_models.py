"""Access facts, traces and patient notifications of the DMP store (DMP-ACL-2/3, DMP-AUD-1).

The closed vocabulary of access decisions lives here (``ActorKind``, ``Action``, ``AccessMode``,
``Reason``, ``NotificationKind``): the store writes it into traces and notifications, and the pure
rules of ``dmp_bridge.access`` decide with it. Values are frozen, times aware (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

MAX_JUSTIFICATION = 500  # characters of a bris de glace justification kept in the trace


class ActorKind(StrEnum):
    """Who acts on a record (DMP-ACL-1..3)."""

    PROFESSIONAL = "professional"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "legal_representative"
    REGULATOR = "regulator"  # médecin régulateur of a centre 15 (SAMU)


class Action(StrEnum):
    """What an actor does on a record or a document (DMP-AUD-1: "what")."""

    READ = "read"
    LIST = "list"
    FILE = "file"
    REPLACE = "replace"
    DELETE = "delete"
    MASK = "mask"
    UNMASK = "unmask"
    ANNOUNCE = "announce"  # the announcement consultation took place (INVISIBLE_PATIENT)
    MANAGE = "manage"  # patient settings: blocked PS, opposition, médecin traitant, representatives
    READ_TRACES = "read_traces"


class AccessMode(StrEnum):
    """DMP-ACL-3: how a professional accesses the record (DMP-AUD-1: "how")."""

    NORMAL = "normal"
    BRIS_DE_GLACE = "bris_de_glace"
    CENTRE_15 = "centre_15"


class Reason(StrEnum):
    """Why an access was granted or refused; stable values, written in traces."""

    GRANTED = "granted"
    MATRIX = "matrice_habilitation"  # DMP-ACL-1
    MASQUE_PS = "masque_ps"  # DMP-ACL-2
    INVISIBLE_PATIENT = "invisible_patient"  # DMP-ACL-2
    INVISIBLE_REPRESENTANTS_LEGAUX = "invisible_representants_legaux"  # DMP-ACL-2
    CONFIDENTIALITY_R = "confidentialite_r"  # DMP-ACL-2 (chosen meaning, see access.rules)
    CONFIDENTIALITY_V = "confidentialite_v"  # DMP-ACL-2 (chosen meaning, see access.rules)
    MASKED_BY_PATIENT = "masque_patient"  # DMP-ACL-3
    BLOCKED = "ps_bloque"  # DMP-ACL-3
    EMERGENCY_OPPOSED = "opposition_acces_urgence"  # DMP-ACL-3
    JUSTIFICATION_REQUIRED = "justification_requise"  # DMP-ACL-3 (bris de glace)
    MODE_NOT_ALLOWED = "mode_interdit"
    ACTION_NOT_ALLOWED = "action_interdite"
    NOT_AUTHOR = "non_auteur"  # DMP-DOC-1 (901)
    OTHER_PATIENT = "autre_patient"
    NOT_REPRESENTATIVE = "non_representant"
    NOT_AVAILABLE = "document_indisponible"  # logically deleted


class NotificationKind(StrEnum):
    """DMP-AUD-1, DMP-ACL-2/3: what the patient (or the médecin traitant) is told of."""

    FIRST_ACCESS = "first_access"
    NEW_DOCUMENT = "new_document"
    EMERGENCY_ACCESS = "emergency_access"


class RecipientKind(StrEnum):
    PATIENT = "patient"
    MEDECIN_TRAITANT = "medecin_traitant"


@dataclass(frozen=True, slots=True)
class PatientSettings:
    """DMP-ACL-3: what the patient decided about their record (defaults: nothing decided)."""

    ins: str
    medecin_traitant: str | None = None  # RPPS
    opposes_emergency: bool = False
    blocked: frozenset[str] = frozenset()  # RPPS of blocked professionals
    legal_representatives: frozenset[str] = frozenset()  # their identifiers


@dataclass(frozen=True, slots=True)
class DocumentFlags:
    """DMP-ACL-2/3: visibility facts of one document beyond its confidentiality codes."""

    entry_id: UUID
    masked_by_patient: bool = False
    announced_at: datetime | None = None  # announcement consultation (INVISIBLE_PATIENT)


@dataclass(frozen=True, slots=True)
class NewTrace:
    """DMP-AUD-1: one access or action on a record — who, when, what, how, decision, reason."""

    ins: str
    at: datetime
    actor_kind: ActorKind
    actor_id: str
    action: Action
    mode: AccessMode
    allowed: bool
    reason: Reason
    entry_id: UUID | None = None
    profession: str | None = None
    justification: str | None = None

    def stored(self, trace_id: int) -> Trace:
        """This trace as stored under ``trace_id``."""
        return Trace(
            id=trace_id,
            ins=self.ins,
            at=self.at,
            actor_kind=self.actor_kind,
            actor_id=self.actor_id,
            action=self.action,
            mode=self.mode,
            allowed=self.allowed,
            reason=self.reason,
            entry_id=self.entry_id,
            profession=self.profession,
            justification=self.justification,
        )


@dataclass(frozen=True, slots=True)
class Trace:
    """A stored trace; ``id`` grows with every trace (append-only table)."""

    id: int
    ins: str
    at: datetime
    actor_kind: ActorKind
    actor_id: str
    action: Action
    mode: AccessMode
    allowed: bool
    reason: Reason
    entry_id: UUID | None
    profession: str | None
    justification: str | None


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to send (an outbox row): not before ``due_at``."""

    ins: str
    kind: NotificationKind
    recipient_kind: RecipientKind
    recipient: str  # the INS for the patient, the RPPS for the médecin traitant
    created_at: datetime
    due_at: datetime
    actor_id: str | None = None
    entry_id: UUID | None = None

    def stored(self, notification_id: int) -> Notification:
        """This notification as queued under ``notification_id``, not sent yet."""
        return Notification(
            id=notification_id,
            ins=self.ins,
            kind=self.kind,
            recipient_kind=self.recipient_kind,
            recipient=self.recipient,
            created_at=self.created_at,
            due_at=self.due_at,
            actor_id=self.actor_id,
            entry_id=self.entry_id,
            sent_at=None,
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """DMP-AUD-1: what one filing appends to its record, in the filing's own transaction: the
    trace and the notifications it implies (``DmpStore.file_all``)."""

    trace: NewTrace
    notifications: tuple[NewNotification, ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification; ``sent_at`` is set by the job that turns it into an e-mail."""

    id: int
    ins: str
    kind: NotificationKind
    recipient_kind: RecipientKind
    recipient: str
    created_at: datetime
    due_at: datetime
    actor_id: str | None
    entry_id: UUID | None
    sent_at: datetime | None
