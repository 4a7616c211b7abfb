"""The audit vocabulary: a closed list of events, the detail keys each may carry, the record type.

SEC-IN-3: only the keys listed here can be recorded, and only short strings or integers, so no
subject, body, attachment name, password or token can slip into the trail. SEC-IN-4: who (actor,
peer), when (at), which mailbox, what action and its result are first-class fields of a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

MAX_VALUE_LENGTH = 256

DetailValue: TypeAlias = str | int


class AuditEvent(StrEnum):
    CONNECTION_OPENED = "connection_opened"
    CONNECTION_CLOSED = "connection_closed"
    TLS_ESTABLISHED = "tls_established"
    TLS_FAILED = "tls_failed"
    AUTH_SUCCEEDED = "auth_succeeded"
    AUTH_FAILED = "auth_failed"
    POLICY_DECISION = "policy_decision"
    MESSAGE_ACCEPTED = "message_accepted"
    MESSAGE_DELIVERED = "message_delivered"
    DELIVERY_FAILED = "delivery_failed"
    DSN_SENT = "dsn_sent"
    MAILBOX_ACCESSED = "mailbox_accessed"
    ADMIN_ACTION = "admin_action"


# Detail keys per event; the common fields (at, event, session_id, peer, actor, mailbox) are apart.
ALLOWED_KEYS: dict[AuditEvent, frozenset[str]] = {
    AuditEvent.CONNECTION_OPENED: frozenset({"listener"}),
    AuditEvent.CONNECTION_CLOSED: frozenset({"listener", "reason", "duration_ms"}),
    AuditEvent.TLS_ESTABLISHED: frozenset({"protocol", "cipher", "peer_dn", "issuer_dn"}),
    AuditEvent.TLS_FAILED: frozenset({"listener", "error"}),
    AuditEvent.AUTH_SUCCEEDED: frozenset({"mechanism", "authzid"}),
    AuditEvent.AUTH_FAILED: frozenset({"mechanism", "username", "authzid", "reason"}),
    AuditEvent.POLICY_DECISION: frozenset(
        {"stage", "decision", "reason", "status", "sender", "recipient"}
    ),
    AuditEvent.MESSAGE_ACCEPTED: frozenset(
        {"queue_id", "message_id", "sender", "recipients", "size"}
    ),
    AuditEvent.MESSAGE_DELIVERED: frozenset({"folder", "uid", "queue_id", "size"}),
    AuditEvent.DELIVERY_FAILED: frozenset(
        {"queue_id", "recipient", "status", "reason", "attempt", "temporary"}
    ),
    AuditEvent.DSN_SENT: frozenset({"queue_id", "action", "recipient", "status", "to"}),
    AuditEvent.MAILBOX_ACCESSED: frozenset(
        {"action", "folder", "uid", "result", "protocol", "count", "target"}
    ),
    AuditEvent.ADMIN_ACTION: frozenset({"action", "target", "result"}),
}


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit trail."""

    at: datetime
    event: AuditEvent
    session_id: str | None = None
    peer: str | None = None
    actor: str | None = None
    mailbox: str | None = None
    details: Mapping[str, DetailValue] = field(default_factory=lambda: MappingProxyType({}))


def make_record(
    event: AuditEvent | str,
    *,
    session_id: str | None = None,
    peer: str | None = None,
    actor: str | None = None,
    mailbox: str | None = None,
    details: Mapping[str, DetailValue | None] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """A checked record; ``ValueError`` for an unknown event or key, or a value too long or typed
    wrongly (SEC-IN-3). Details whose value is None are left out."""
    kind = AuditEvent(event)
    common = {"session_id": session_id, "peer": peer, "actor": actor, "mailbox": mailbox}
    for name, value in common.items():
        _check_value(name, value)
    return AuditRecord(
        at=_utc(at),
        event=kind,
        session_id=session_id,
        peer=peer,
        actor=actor,
        mailbox=mailbox,
        details=MappingProxyType(_checked_details(kind, details or {})),
    )


def clip(value: str, limit: int = MAX_VALUE_LENGTH) -> str:
    """``value`` cut to ``limit`` characters: for peer-supplied text (a DN, an EHLO name)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _checked_details(
    event: AuditEvent, details: Mapping[str, DetailValue | None]
) -> dict[str, DetailValue]:
    unknown = sorted(set(details) - ALLOWED_KEYS[event])
    if unknown:
        raise ValueError(f"audit event {event} does not allow keys {unknown}")
    checked: dict[str, DetailValue] = {}
    for key, value in details.items():
        if value is not None:
            _check_value(key, value)
            checked[key] = value
    return checked


def _check_value(name: str, value: object) -> None:
    if value is None or isinstance(value, int):
        return
    if not isinstance(value, str):
        raise ValueError(f"audit value {name!r} must be a string or an integer")
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"audit value {name!r} is longer than {MAX_VALUE_LENGTH} characters")


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    return at.astimezone(UTC)
