"""Access facts, traces and notifications in memory (DMP-ACL-2/3, DMP-AUD-1), for
``MemoryDmpStore``; same behaviour as ``access_sql``. Traces are only ever appended.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.access_models import (
    DocumentFlags,
    NewNotification,
    NewTrace,
    Notification,
    PatientSettings,
    Trace,
)
from dmp_bridge.store.errors import UnknownDocument
from dmp_bridge.store.models import DmpRecord, StoredDocument


class MemoryAccessMixin:
    """The access part of ``DmpStore`` over the memory store's records and documents."""

    _lock: asyncio.Lock
    _records: dict[str, DmpRecord]
    _documents: dict[UUID, StoredDocument]

    def _init_access(self) -> None:
        self._settings: dict[str, PatientSettings] = {}
        self._flags: dict[UUID, DocumentFlags] = {}
        self._traces: list[Trace] = []
        self._first_accesses: set[tuple[str, str]] = set()
        self._notifications: list[Notification] = []

    async def patient_settings(self, ins: str) -> PatientSettings:
        return self._settings.get(ins, PatientSettings(ins))

    async def set_medecin_traitant(self, ins: str, rpps: str | None) -> None:
        await self._change_settings(
            ins, lambda current: dataclasses.replace(current, medecin_traitant=rpps)
        )

    async def set_blocked(self, ins: str, rpps: str, blocked: bool) -> None:
        await self._change_settings(
            ins,
            lambda current: dataclasses.replace(
                current, blocked=_toggle(current.blocked, rpps, blocked)
            ),
        )

    async def set_emergency_opposition(self, ins: str, opposed: bool) -> None:
        await self._change_settings(
            ins, lambda current: dataclasses.replace(current, opposes_emergency=opposed)
        )

    async def set_legal_representative(self, ins: str, representative: str, present: bool) -> None:
        await self._change_settings(
            ins,
            lambda current: dataclasses.replace(
                current,
                legal_representatives=_toggle(
                    current.legal_representatives, representative, present
                ),
            ),
        )

    async def document_flags(self, entry_id: UUID) -> DocumentFlags:
        return self._flags.get(entry_id, DocumentFlags(entry_id))

    async def record_flags(self, ins: str) -> dict[UUID, DocumentFlags]:
        return {
            entry_id: flags
            for entry_id, flags in self._flags.items()
            if self._documents[entry_id].patient_ins == ins
        }

    async def set_masked_by_patient(self, entry_id: UUID, masked: bool) -> None:
        async with self._lock:
            self._known(entry_id)
            flags = self._flags.get(entry_id, DocumentFlags(entry_id))
            self._flags[entry_id] = dataclasses.replace(flags, masked_by_patient=masked)

    async def mark_announced(self, entry_id: UUID, at: datetime) -> DocumentFlags:
        async with self._lock:
            self._known(entry_id)
            flags = self._flags.get(entry_id, DocumentFlags(entry_id))
            if flags.announced_at is None:
                flags = dataclasses.replace(flags, announced_at=at)
                self._flags[entry_id] = flags
            return flags

    async def record_access(
        self,
        trace: NewTrace,
        notifications: Sequence[NewNotification] = (),
        first_access: NewNotification | None = None,
    ) -> Trace:
        async with self._lock:
            return self._append_audit(trace, notifications, first_access)

    def _append_audit(
        self,
        trace: NewTrace,
        notifications: Sequence[NewNotification] = (),
        first_access: NewNotification | None = None,
    ) -> Trace:
        """DMP-AUD-1: append ``trace`` and queue its notifications (the caller holds the lock)."""
        stored = trace.stored(len(self._traces) + 1)
        self._traces.append(stored)
        queued = list(notifications)
        key = (trace.ins, trace.actor_id)
        if trace.allowed and first_access is not None and key not in self._first_accesses:
            self._first_accesses.add(key)
            queued.append(first_access)
        for notification in queued:
            self._notifications.append(notification.stored(len(self._notifications) + 1))
        return stored

    async def traces(self, ins: str) -> list[Trace]:
        return [trace for trace in self._traces if trace.ins == ins]

    async def notifications(self, ins: str) -> list[Notification]:
        return [n for n in self._notifications if n.ins == ins]

    async def due_notifications(self, now: datetime, limit: int = 100) -> list[Notification]:
        due = [n for n in self._notifications if n.sent_at is None and n.due_at <= now]
        return sorted(due, key=lambda n: (n.due_at, n.id))[:limit]

    async def mark_notification_sent(self, notification_id: int, at: datetime) -> None:
        async with self._lock:
            for index, notification in enumerate(self._notifications):
                if notification.id == notification_id and notification.sent_at is None:
                    self._notifications[index] = dataclasses.replace(notification, sent_at=at)

    async def _change_settings(
        self, ins: str, change: Callable[[PatientSettings], PatientSettings]
    ) -> None:
        async with self._lock:
            if ins not in self._records:  # DMP-MDN-1: 902
                raise DocumentError("the patient has no record", code=MdnCode.UNKNOWN_PATIENT)
            self._settings[ins] = change(self._settings.get(ins, PatientSettings(ins)))

    def _known(self, entry_id: UUID) -> None:
        if entry_id not in self._documents:
            raise UnknownDocument("no such DMP document")


def _toggle(values: frozenset[str], value: str, present: bool) -> frozenset[str]:
    return values | {value} if present else values - {value}
