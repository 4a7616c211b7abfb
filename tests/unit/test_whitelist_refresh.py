"""MSS-TRUST-5: the whitelist refresher keeps the last good copy whatever the source gives, loads a
good update, records every attempt, shows the age and alerts past the threshold (fake clock).

Sources here are files; HTTPS sources are in tests/protocol/test_whitelist_https.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from config.settings import DirectorySettings
from directory.dn import normalise_dn
from directory.errors import WhitelistError
from directory.memory import MemoryDirectory
from directory.refresh import WhitelistRefresher, fetch

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
PEER = ("operateur-pair.mssante.fr", "CN=mx.operateur-pair.mssante.fr,O=Pair,C=FR")
THIRD = ("troisieme.mssante.fr", "CN=mx.troisieme.mssante.fr,O=Troisieme,C=FR")
SETTINGS = DirectorySettings(argon2_time_cost=1, argon2_memory_kib=8)


def whitelist_xml(entries: Sequence[tuple[str, str]], generated: datetime = NOW) -> str:
    """A list in the ANS format (MSS-TRUST-1)."""
    stamp = generated.strftime("%Y-%m-%dT%H:%M:%SZ")
    domains = "".join(
        f"<Domaine><Nom>{escape(name)}</Nom><Description>d</Description>"
        f"<DNCertificatOperateur>{escape(dn)}</DNCertificatOperateur>"
        f"<ResponsableContact>r</ResponsableContact><SupportContact>s</SupportContact>"
        f"<DateMAJ>{stamp}</DateMAJ></Domaine>"
        for name, dn in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">'
        f"<DateDeGeneration>{stamp}</DateDeGeneration><ListeDomaines>{domains}</ListeDomaines>"
        "</ListeBlancheMSSante>\n"
    )


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def many(count: int) -> list[tuple[str, str]]:
    return [(f"op{i}.mssante.fr", f"CN=mx.op{i}.mssante.fr,O=Op {i},C=FR") for i in range(count)]


@pytest.fixture
async def loaded(tmp_path: Path) -> tuple[MemoryDirectory, WhitelistRefresher, Clock]:
    """A directory whose last good copy (10 entries + PEER) came from a refresh at NOW."""
    directory = MemoryDirectory(SETTINGS)
    clock = Clock()
    refresher = WhitelistRefresher(directory, clock=clock, max_age=timedelta(hours=48))
    (tmp_path / "good.xml").write_text(whitelist_xml([*many(10), PEER]))
    result = await refresher.refresh(str(tmp_path / "good.xml"))
    assert result.ok
    assert result.entries == 11
    clock.now += timedelta(hours=1)
    return directory, refresher, clock


async def assert_kept(directory: MemoryDirectory, error_part: str) -> None:
    """The last good copy is in use and the error is recorded."""
    assert await directory.whitelisted_dns(PEER[0]) == frozenset({normalise_dn(PEER[1])})
    assert (await directory.whitelist_status()).entries == 11
    state = await directory.whitelist_refresh()
    assert state is not None
    assert state.succeeded_at == NOW
    assert state.attempted_at == NOW + timedelta(hours=1)
    assert error_part in state.error
    assert state.entries == 11


async def test_trust_5_truncated_file_keeps_the_last_good_copy(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, _clock = loaded
    whole = whitelist_xml([*many(10), PEER, THIRD])
    (tmp_path / "cut.xml").write_text(whole[: len(whole) // 2])
    result = await refresher.refresh(str(tmp_path / "cut.xml"))
    assert not result.ok
    await assert_kept(directory, "well-formed")
    assert await directory.whitelisted_dns(THIRD[0]) == frozenset()


async def test_trust_5_empty_list_keeps_the_last_good_copy(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, _clock = loaded
    (tmp_path / "empty.xml").write_text(whitelist_xml([]))
    result = await refresher.refresh(str(tmp_path / "empty.xml"))
    assert not result.ok
    await assert_kept(directory, "no entries")
    # even forced: an empty list is never loaded
    assert not (await refresher.refresh(str(tmp_path / "empty.xml"), force=True)).ok


async def test_trust_5_empty_file_and_missing_file_keep_the_last_good_copy(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, _clock = loaded
    (tmp_path / "zero.xml").write_bytes(b"")
    assert not (await refresher.refresh(str(tmp_path / "zero.xml"))).ok
    assert not (await refresher.refresh(str(tmp_path / "absent.xml"))).ok
    await assert_kept(directory, "cannot read")


async def test_trust_5_suspiciously_small_list_is_refused_unless_forced(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, _clock = loaded
    (tmp_path / "small.xml").write_text(whitelist_xml([PEER, THIRD], NOW + timedelta(hours=1)))
    result = await refresher.refresh(str(tmp_path / "small.xml"))
    assert not result.ok
    await assert_kept(directory, "suspiciously small list: 2 entries")
    forced = await refresher.refresh(str(tmp_path / "small.xml"), force=True)
    assert forced.ok
    assert (await directory.whitelist_status()).entries == 2
    assert await directory.whitelisted_dns("op1.mssante.fr") == frozenset()


async def test_trust_5_older_list_is_refused_unless_forced(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, _clock = loaded
    older = whitelist_xml([*many(10), PEER, THIRD], NOW - timedelta(days=3))
    (tmp_path / "old.xml").write_text(older)
    assert not (await refresher.refresh(str(tmp_path / "old.xml"))).ok
    await assert_kept(directory, "older list")
    assert (await refresher.refresh(str(tmp_path / "old.xml"), force=True)).ok


async def test_trust_5_good_update_is_loaded_and_recorded(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, clock = loaded
    newer = whitelist_xml([*many(10), PEER, THIRD], NOW + timedelta(hours=1))
    (tmp_path / "new.xml").write_text(newer)
    result = await refresher.refresh((tmp_path / "new.xml").as_uri())  # a file:// URL
    assert result.ok
    assert result.entries == 12
    assert await directory.whitelisted_dns(THIRD[0]) == frozenset({normalise_dn(THIRD[1])})
    state = await directory.whitelist_refresh()
    assert state is not None
    assert state.error == ""
    assert state.succeeded_at == clock.now
    assert len(state.source_sha256) == 64
    assert state.source == (tmp_path / "new.xml").as_uri()


async def test_trust_5_plain_http_and_other_schemes_are_refused() -> None:
    for source in ("http://127.0.0.1:1/liste.xml", "ftp://example.test/liste.xml"):
        with pytest.raises(WhitelistError, match="is not accepted"):
            await fetch(source)


async def test_trust_5_oversized_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.xml").write_bytes(b"x" * 2000)
    with pytest.raises(WhitelistError, match="larger than 1000"):
        await fetch(str(tmp_path / "big.xml"), max_bytes=1000)


async def test_trust_5_status_shows_age_source_and_last_error(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    _directory, refresher, clock = loaded
    await refresher.refresh(str(tmp_path / "absent.xml"))
    clock.now = NOW + timedelta(hours=5)
    report = await refresher.report()
    assert report["entries"] == 11
    assert report["age_seconds"] == 5 * 3600
    assert report["stale"] is False
    assert report["last_success"] == NOW.isoformat()
    assert report["last_attempt"] == (NOW + timedelta(hours=1)).isoformat()
    assert "cannot read" in str(report["last_error"])
    assert report["source"] == str(tmp_path / "absent.xml")


async def test_trust_5_alert_is_logged_past_max_age_fake_clock(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _directory, refresher, clock = loaded
    source = str(tmp_path / "absent.xml")  # every refresh fails from now on
    caplog.set_level(logging.WARNING, logger="directory.refresh")
    clock.now = NOW + timedelta(hours=47)
    await refresher.scheduled(source, interval=3600)
    assert not [r for r in caplog.records if "ALERT" in r.getMessage()]
    clock.now = NOW + timedelta(hours=49)
    await refresher.scheduled(source, interval=3600)
    alerts = [r for r in caplog.records if "ALERT" in r.getMessage()]
    assert len(alerts) == 1
    assert alerts[0].levelno == logging.WARNING
    assert "age_hours=49.0" in alerts[0].getMessage()
    assert "cannot read" in alerts[0].getMessage()
    clock.now = NOW + timedelta(hours=50)
    await refresher.scheduled(source, interval=3600)  # every run past the threshold alerts
    assert len([r for r in caplog.records if "ALERT" in r.getMessage()]) == 2
    assert (await refresher.report())["stale"] is True


async def test_trust_5_scheduled_run_skips_when_another_node_just_tried(
    loaded: tuple[MemoryDirectory, WhitelistRefresher, Clock], tmp_path: Path
) -> None:
    directory, refresher, clock = loaded
    (tmp_path / "new.xml").write_text(whitelist_xml([*many(10), PEER, THIRD], clock.now))
    assert (await refresher.scheduled(str(tmp_path / "new.xml"), interval=3600)) is not None
    clock.now += timedelta(minutes=10)
    assert (await refresher.scheduled(str(tmp_path / "new.xml"), interval=3600)) is None
    clock.now += timedelta(minutes=30)
    assert (await refresher.scheduled(str(tmp_path / "new.xml"), interval=3600)) is not None
    assert (await directory.whitelist_status()).entries == 12


async def test_trust_5_no_source_only_checks_the_age() -> None:
    directory = MemoryDirectory(SETTINGS)
    refresher = WhitelistRefresher(directory, clock=lambda: NOW)
    assert await refresher.scheduled("", interval=3600) is None
    age = await refresher.age()
    assert age.stale
    assert age.age is None
