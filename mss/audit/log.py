"""The audit log seam (``AuditLog``) and its in-memory implementation for tests and the demo.

``record`` is synchronous and never waits on I/O, so sessions call it inline; implementations that
write somewhere do so in the background and ``flush`` waits for what was recorded so far.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mss.audit.events import AuditEvent, AuditRecord, DetailValue, make_record


class AuditLog(Protocol):
    def record(
        self,
        event: AuditEvent,
        *,
        session_id: str | None = None,
        peer: str | None = None,
        actor: str | None = None,
        mailbox: str | None = None,
        **details: DetailValue | None,
    ) -> None:
        """Append one event; ``ValueError`` if a detail key is not allowed for it (SEC-IN-3)."""

    async def flush(self) -> None:
        """Return once everything recorded so far is stored."""

    async def close(self) -> None:
        """Flush and stop; recording afterwards is an error."""

    async def query(
        self,
        mailbox: str | None = None,
        event: AuditEvent | None = None,
        limit: int = 100,
        *,
        since: datetime | None = None,
    ) -> list[AuditRecord]:
        """The latest ``limit`` matching records, oldest first (SEC-IN-4 traces per mailbox)."""


class AuditLogClosedError(RuntimeError):
    """An event recorded after ``close()``."""


class MemoryAuditLog:
    """Keeps records in a list; every operation completes at once."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self._closed = False

    def record(
        self,
        event: AuditEvent,
        *,
        session_id: str | None = None,
        peer: str | None = None,
        actor: str | None = None,
        mailbox: str | None = None,
        **details: DetailValue | None,
    ) -> None:
        if self._closed:
            raise AuditLogClosedError("audit log is closed")
        self.records.append(
            make_record(
                event,
                session_id=session_id,
                peer=peer,
                actor=actor,
                mailbox=mailbox,
                details=details,
            )
        )

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True

    async def query(
        self,
        mailbox: str | None = None,
        event: AuditEvent | None = None,
        limit: int = 100,
        *,
        since: datetime | None = None,
    ) -> list[AuditRecord]:
        found = [r for r in self.records if matches(r, mailbox=mailbox, event=event, since=since)]
        return found[-limit:] if limit > 0 else []


def matches(
    record: AuditRecord,
    *,
    mailbox: str | None,
    event: AuditEvent | None,
    since: datetime | None,
) -> bool:
    return (
        (mailbox is None or record.mailbox == mailbox)
        and (event is None or record.event == event)
        and (since is None or record.at >= since)
    )
