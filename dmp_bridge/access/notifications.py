"""The patient notifications an access or a filing implies (DMP-AUD-1, DMP-ACL-2/3): pure.

Rows of an outbox (``dmp_notifications``) that a later job turns into e-mails: a professional's
first access (sent once per professional and record, the store guarantees it), every new document
(after 2 weeks for ``INVISIBLE_PATIENT``), every granted emergency access (to the patient and to
the médecin traitant).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dmp_bridge.access.rules import EMERGENCY_MODES, AccessRequest, notice_due
from dmp_bridge.store.access_models import (
    NewNotification,
    NotificationKind,
    PatientSettings,
    RecipientKind,
)
from dmp_bridge.store.models import StoredDocument


def first_access(request: AccessRequest, now: datetime) -> NewNotification:
    """DMP-AUD-1: the patient is told of a professional's first access (queued by the store
    only if it is the first)."""
    return _to_patient(request.ins, NotificationKind.FIRST_ACCESS, now, request)


def emergency_notifications(
    request: AccessRequest, settings: PatientSettings, now: datetime
) -> tuple[NewNotification, ...]:
    """DMP-ACL-3: an emergency access notifies the patient and the médecin traitant."""
    if request.mode not in EMERGENCY_MODES:
        return ()
    patient = _to_patient(request.ins, NotificationKind.EMERGENCY_ACCESS, now, request)
    treating = settings.medecin_traitant
    if not treating or treating == request.actor.actor_id:
        return (patient,)
    doctor = NewNotification(
        ins=request.ins,
        kind=NotificationKind.EMERGENCY_ACCESS,
        recipient_kind=RecipientKind.MEDECIN_TRAITANT,
        recipient=treating,
        created_at=now,
        due_at=now,
        actor_id=request.actor.actor_id,
        entry_id=_entry(request),
    )
    return (patient, doctor)


def new_document(document: StoredDocument, now: datetime) -> NewNotification:
    """DMP-AUD-1: every new document; DMP-ACL-2: after 2 weeks for ``INVISIBLE_PATIENT``."""
    return NewNotification(
        ins=document.patient_ins,
        kind=NotificationKind.NEW_DOCUMENT,
        recipient_kind=RecipientKind.PATIENT,
        recipient=document.patient_ins,
        created_at=now,
        due_at=max(now, notice_due(document)),
        actor_id=document.author_id,
        entry_id=document.entry_id,
    )


def _to_patient(
    ins: str, kind: NotificationKind, now: datetime, request: AccessRequest
) -> NewNotification:
    return NewNotification(
        ins=ins,
        kind=kind,
        recipient_kind=RecipientKind.PATIENT,
        recipient=ins,
        created_at=now,
        due_at=now,
        actor_id=request.actor.actor_id,
        entry_id=_entry(request),
    )


def _entry(request: AccessRequest) -> UUID | None:
    return None if request.document is None else request.document.entry_id
