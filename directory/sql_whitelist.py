"""The whitelist in SQL (MSS-TRUST-1/2): storing a new list and an in-memory lookup table.

``whitelisted_dns`` runs for every inbound message, so lookups are served from a dict. It is loaded
on first use, replaced after ``replace_whitelist`` on this node, and reloaded when the version row
shows another node loaded a new list (checked at most every ``check_interval`` seconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from directory.checks import dns_by_domain, utc_or_none
from directory.models import Whitelist, WhitelistEntry, WhitelistRefresh, WhitelistStatus
from directory.tables import aware, whitelist_entries, whitelist_meta, whitelist_refresh

_META_ID = 1


async def store_whitelist(
    conn: AsyncConnection,
    whitelist: Whitelist,
    entries: Sequence[WhitelistEntry],
    loaded_at: datetime,
) -> int:
    """Replace the stored list by ``entries`` within ``conn``'s transaction; the new version."""
    meta = {
        "generated_at": utc_or_none(whitelist.generated_at),
        "loaded_at": loaded_at,
        "entries": len(entries),
        "domains": len({entry.domain for entry in entries}),
    }
    # Updating the meta row first locks it: concurrent replacements run one after the other.
    changed = await conn.execute(
        update(whitelist_meta)
        .where(whitelist_meta.c.id == _META_ID)
        .values(version=whitelist_meta.c.version + 1, **meta)
    )
    if changed.rowcount == 0:
        await conn.execute(whitelist_meta.insert().values(id=_META_ID, version=1, **meta))
    await conn.execute(whitelist_entries.delete())
    await conn.execute(whitelist_entries.insert(), [_entry_row(entry) for entry in entries])
    version = await conn.scalar(
        select(whitelist_meta.c.version).where(whitelist_meta.c.id == _META_ID)
    )
    return int(version or 0)


def _entry_row(entry: WhitelistEntry) -> dict[str, str]:
    return {
        "domain": entry.domain,
        "certificate_dn": entry.certificate_dn,
        "description": entry.description,
        "responsible_contact": entry.responsible_contact,
        "support_contact": entry.support_contact,
        "updated": entry.updated,
    }


async def load_whitelist_status(conn: AsyncConnection) -> WhitelistStatus:
    query = select(whitelist_meta).where(whitelist_meta.c.id == _META_ID)
    row = (await conn.execute(query)).mappings().one_or_none()
    if row is None:
        return WhitelistStatus(generated_at=None, loaded_at=None, entries=0, domains=0)
    return WhitelistStatus(
        generated_at=aware(row["generated_at"]),
        loaded_at=aware(row["loaded_at"]),
        entries=row["entries"],
        domains=row["domains"],
    )


async def store_whitelist_refresh(conn: AsyncConnection, refresh: WhitelistRefresh) -> None:
    """MSS-TRUST-5: the one row describing the last refresh, replaced."""
    values = {
        "attempted_at": refresh.attempted_at,
        "succeeded_at": refresh.succeeded_at,
        "error": refresh.error,
        "entries": refresh.entries,
        "source": refresh.source,
        "source_sha256": refresh.source_sha256,
    }
    changed = await conn.execute(
        update(whitelist_refresh).where(whitelist_refresh.c.id == _META_ID).values(**values)
    )
    if changed.rowcount == 0:
        await conn.execute(whitelist_refresh.insert().values(id=_META_ID, **values))


async def load_whitelist_refresh(conn: AsyncConnection) -> WhitelistRefresh | None:
    query = select(whitelist_refresh).where(whitelist_refresh.c.id == _META_ID)
    row = (await conn.execute(query)).mappings().one_or_none()
    attempted_at = aware(row["attempted_at"]) if row is not None else None
    if row is None or attempted_at is None:  # the column is NOT NULL: no row, no refresh
        return None
    return WhitelistRefresh(
        attempted_at=attempted_at,
        succeeded_at=aware(row["succeeded_at"]),
        error=row["error"],
        entries=row["entries"],
        source=row["source"],
        source_sha256=row["source_sha256"],
    )


class WhitelistCache:
    """Domain -> normalised DNs, in memory, kept in step with the stored list."""

    def __init__(self, engine: AsyncEngine, *, check_interval: float) -> None:
        self._engine = engine
        self._check_interval = check_interval
        self._table: dict[str, frozenset[str]] | None = None
        self._version: int | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def dns(self, domain: str) -> frozenset[str]:
        table = self._table
        if table is None or time.monotonic() - self._checked_at >= self._check_interval:
            table = await self._refresh()
        return table.get(domain.strip().lower(), frozenset())

    def loaded(self, entries: Sequence[WhitelistEntry], version: int) -> None:
        """This node has just stored ``entries`` as ``version``."""
        self._table = dns_by_domain((entry.domain, entry.certificate_dn) for entry in entries)
        self._version = version
        self._checked_at = time.monotonic()

    async def _refresh(self) -> dict[str, frozenset[str]]:
        async with self._lock:
            fresh = time.monotonic() - self._checked_at < self._check_interval
            if self._table is not None and fresh:
                return self._table  # refreshed by another task while we waited
            async with self._engine.connect() as conn:
                version = await conn.scalar(
                    select(whitelist_meta.c.version).where(whitelist_meta.c.id == _META_ID)
                )
                if self._table is None or version != self._version:
                    table = await _load_table(conn)
                    if self._table is None or _newer(version, self._version):
                        self._table, self._version = table, version
            self._checked_at = time.monotonic()
            return self._table


def _newer(version: int | None, than: int | None) -> bool:
    """False when ``loaded()`` stored a later list while this task was reading."""
    return than is None or (version is not None and version >= than)


async def _load_table(conn: AsyncConnection) -> dict[str, frozenset[str]]:
    query = select(whitelist_entries.c.domain, whitelist_entries.c.certificate_dn)
    rows = (await conn.execute(query)).all()
    return dns_by_domain((row.domain, row.certificate_dn) for row in rows)
