"""``mss whitelist refresh|status`` as an administrator runs them (MSS-TRUST-5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mss.pki import create_ca, issue
from tests.e2e.test_cli import mss
from tests.unit.test_whitelist_refresh import PEER, THIRD, many, whitelist_xml


@pytest.fixture
def config(tmp_path: Path) -> Path:
    ca = create_ca(tmp_path / "pki")
    issue(ca, tmp_path / "pki", "server", common_name="mx.test", organisation="Test")
    path = tmp_path / "mss.toml"
    path.write_text(
        'data_dir = "data"\n[storage]\nactive_key = "k"\n'
        'keys = { k = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }\n'
    )
    return path


def test_trust_5_refresh_and_status_through_the_cli(config: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    good = tmp_path / "good.xml"
    good.write_text(whitelist_xml([*many(4), PEER], now))
    done = mss("whitelist", "refresh", "--file", str(good), config=config)
    assert done.returncode == 0, done.stderr
    assert "5 entries" in done.stdout

    cut = tmp_path / "cut.xml"
    cut.write_text(whitelist_xml([*many(4), PEER, THIRD], now)[:-100])
    failed = mss("whitelist", "refresh", "--file", str(cut), config=config)
    assert failed.returncode == 1
    last = failed.stderr.splitlines()[-1]  # after the log's WARNING line
    assert last.startswith("mss: error: whitelist not refreshed, last good copy kept: ")
    assert "Traceback" not in failed.stderr

    status = mss("whitelist", "status", "--json", config=config)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["entries"] == 5
    assert report["stale"] is False
    assert 0 <= report["age_seconds"] < 600
    assert "well-formed" in report["last_error"]
    assert report["source"] == str(cut)

    text = mss("whitelist", "status", config=config)
    assert "entries: 5" in text.stdout
    assert "last error: the whitelist is not well-formed" in text.stdout


def test_trust_5_refresh_refusals_are_one_clear_line(config: Path, tmp_path: Path) -> None:
    no_source = mss("whitelist", "refresh", config=config)
    assert no_source.returncode == 1
    assert "no source" in no_source.stderr
    plain = mss("whitelist", "refresh", "--url", "http://127.0.0.1:1/l.xml", config=config)
    assert plain.returncode == 1
    assert "http:// is not accepted" in plain.stderr
    assert "Traceback" not in plain.stderr + no_source.stderr
