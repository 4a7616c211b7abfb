"""MSS-TRUST-5: the refresh state of the whitelist, and a refresh through the refresher, on
every ``Directory`` (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import DirectorySettings
from directory.dn import normalise_dn
from directory.errors import InvalidRecord
from directory.interfaces import Directory
from directory.memory import MemoryDirectory
from directory.models import WhitelistRefresh
from directory.refresh import WhitelistRefresher
from directory.sql import SqlDirectory
from directory.tables import metadata
from tests.unit.test_whitelist_refresh import PEER, THIRD, whitelist_xml

SETTINGS = DirectorySettings(argon2_time_cost=1, argon2_memory_kib=8)
NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    found: AsyncEngine = request.getfixturevalue(
        "pg_engine" if backend == "postgres" else "sqlite_engine"
    )
    return found


@pytest.fixture
async def directory(engine: AsyncEngine | None) -> AsyncIterator[Directory]:
    if engine is None:
        yield MemoryDirectory(SETTINGS)
        return
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield SqlDirectory(engine, SETTINGS)


async def test_trust_5_refresh_state_round_trips(directory: Directory) -> None:
    assert await directory.whitelist_refresh() is None
    first = WhitelistRefresh(NOW, NOW, "", 3, "https://example.test/l.xml", "ab" * 32)
    await directory.record_whitelist_refresh(first)
    assert await directory.whitelist_refresh() == first
    paris = datetime(2026, 11, 22, 7, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    failed = WhitelistRefresh(paris, NOW, "HTTP 404\nfrom x", 3, "liste.xml", "ab" * 32)
    await directory.record_whitelist_refresh(failed)
    stored = await directory.whitelist_refresh()
    assert stored is not None
    assert stored.attempted_at == paris
    assert stored.attempted_at.tzinfo == UTC
    assert stored.error == "HTTP 404 from x"  # one line
    assert stored.succeeded_at == NOW


async def test_trust_5_refresh_state_is_checked(directory: Directory) -> None:
    with pytest.raises(InvalidRecord):
        await directory.record_whitelist_refresh(WhitelistRefresh(NOW, source_sha256="xyz"))
    with pytest.raises(ValueError, match="naive"):
        await directory.record_whitelist_refresh(WhitelistRefresh(NOW.replace(tzinfo=None)))


async def test_trust_5_refresh_replaces_the_list_and_keeps_it_on_failure(
    directory: Directory, tmp_path: Path
) -> None:
    good = tmp_path / "good.xml"
    good.write_text(whitelist_xml([PEER, THIRD], NOW))
    refresher = WhitelistRefresher(directory, clock=lambda: NOW)
    assert (await refresher.refresh(str(good))).ok
    assert await directory.whitelisted_dns(THIRD[0]) == frozenset({normalise_dn(THIRD[1])})
    (tmp_path / "bad.xml").write_text(whitelist_xml([PEER, THIRD], NOW)[:-80])
    later = WhitelistRefresher(directory, clock=lambda: NOW + timedelta(hours=1))
    result = await later.refresh(str(tmp_path / "bad.xml"))
    assert not result.ok
    assert await directory.whitelisted_dns(THIRD[0]) == frozenset({normalise_dn(THIRD[1])})
    state = await directory.whitelist_refresh()
    assert state is not None
    assert (state.succeeded_at, state.entries) == (NOW, 2)
    assert "well-formed" in state.error
