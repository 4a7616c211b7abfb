"""The audit trail: a closed vocabulary of events written to an append-only store (SEC-IN-3/4)."""

from __future__ import annotations

from mss.audit.events import (
    ALLOWED_KEYS,
    MAX_VALUE_LENGTH,
    AuditEvent,
    AuditRecord,
    DetailValue,
    clip,
    make_record,
)
from mss.audit.log import AuditLog, AuditLogClosedError, MemoryAuditLog
from mss.audit.sql import SqlAuditLog
from mss.audit.tables import append_only_ddl, audit_events, metadata

__all__ = [
    "ALLOWED_KEYS",
    "MAX_VALUE_LENGTH",
    "AuditEvent",
    "AuditLog",
    "AuditLogClosedError",
    "AuditRecord",
    "DetailValue",
    "MemoryAuditLog",
    "SqlAuditLog",
    "append_only_ddl",
    "audit_events",
    "clip",
    "make_record",
    "metadata",
]
