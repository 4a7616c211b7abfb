"""The ``mss`` command line, run as a user would: one clear line and a non-zero exit on error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from directory.ins import make_ins
from mss.pki import create_ca, issue
from tests.conftest import DATA


def mss(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MSS_DIRECTORY__ARGON2_TIME_COST": "1",
        "MSS_DIRECTORY__ARGON2_MEMORY_KIB": "8",
    }
    if config is not None:
        env["MSS_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "mss", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


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


def test_config_example_and_check(config: Path, tmp_path: Path) -> None:
    example = mss("config", "example")
    assert example.returncode == 0
    assert "[smtp.mx]" in example.stdout
    assert mss("config", "check", "--config", str(config)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nmax_recipients = -1\n")
    result = mss("config", "check", "--config", str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "smtp.max_recipients" in result.stderr
    assert "Traceback" not in result.stderr


def test_directory_administration(config: Path) -> None:
    """MSS-BAL-1..4, MSS-BAL-2, MSS-INS-1, MSS-PAT-1 through the CLI."""
    assert (
        mss("domain", "add", "hop.mssante.fr", "--kind", "professional", config=config).returncode
        == 0
    )
    assert (
        mss("domain", "add", "patient.mssante.fr", "--kind", "patient", config=config).returncode
        == 0
    )
    added = mss(
        "mailbox",
        "add",
        "Dr.House@hop.mssante.fr",
        "--kind",
        "PER",
        "--password",
        "s3cret-pass",
        "--rpps",
        "10001234567",
        config=config,
    )
    assert added.returncode == 0, added.stderr
    assert (
        mss(
            "mailbox",
            "add",
            "secretariat@hop.mssante.fr",
            "--kind",
            "ORG",
            "--password",
            "s3cret-pass",
            config=config,
        ).returncode
        == 0
    )
    assert (
        mss(
            "delegate",
            "add",
            "secretariat@hop.mssante.fr",
            "dr.house@hop.mssante.fr",
            config=config,
        ).returncode
        == 0
    )
    assert mss("mailbox", "suspend", "dr.house@hop.mssante.fr", config=config).returncode == 0
    listing = mss("mailbox", "list", config=config).stdout
    assert "dr.house@hop.mssante.fr\tPER\tsuspended" in listing
    assert mss("mailbox", "close", "secretariat@hop.mssante.fr", config=config).returncode == 0
    assert (
        mss(
            "delegate",
            "remove",
            "secretariat@hop.mssante.fr",
            "dr.house@hop.mssante.fr",
            config=config,
        ).returncode
        == 0
    )

    ins = make_ins("2800575123456")
    assert mss("patient", "add", ins, "--state", "pending", config=config).returncode == 0
    assert mss("patient", "set-state", ins, "active", config=config).returncode == 0
    assert (
        f"{ins}\t{ins.lower()}@patient.mssante.fr\tactive"
        in mss("patient", "list", config=config).stdout
    )


def test_errors_are_one_line(config: Path) -> None:
    cases = [
        ("mailbox", "add", "x@unhosted.example", "--kind", "PER", "--password", "p"),
        ("patient", "add", "123"),
        ("mailbox", "suspend", "nobody@nowhere.example"),
        ("whitelist", "import", str(DATA / "whitelist-sample.xml") + ".absent"),
    ]
    for args in cases:
        result = mss(*args, config=config)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, args
        assert result.stderr.strip(), args


def test_whitelist_import(config: Path, tmp_path: Path) -> None:
    """MSS-TRUST-1."""
    result = mss("whitelist", "import", str(DATA / "whitelist-sample.xml"), config=config)
    assert result.returncode == 0, result.stderr
    assert "entries" in result.stdout
    broken = tmp_path / "broken.xml"
    broken.write_text("<ListeBlancheMSSante><ListeDomaines></ListeDomaines></ListeBlancheMSSante>")
    refused = mss("whitelist", "import", str(broken), config=config)
    assert refused.returncode == 1
    assert refused.stderr.startswith("mss: error:")


def test_serve_starts_and_stops_cleanly(config: Path) -> None:
    config.write_text(
        config.read_text()
        + "".join(f"[smtp.{name}]\nport = 0\n" for name in ("mx", "submission", "submissions"))
    )
    env = {
        **os.environ,
        "MSS_DIRECTORY__ARGON2_TIME_COST": "1",
        "MSS_DIRECTORY__ARGON2_MEMORY_KIB": "8",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mss", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        announced = [process.stdout.readline().strip() for _ in range(3)]
        assert [line.split(":")[0] for line in announced] == ["mx", "submission", "submissions"]
        port = int(announced[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            assert client.recv(100).startswith(b"220 ")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


def test_dkim_keygen_prints_the_dns_record(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    result = mss("dkim", "keygen", "hop.mssante.fr", "--selector", "s1", "--out", str(key))
    assert result.returncode == 0, result.stderr
    assert 's1._domainkey.hop.mssante.fr. IN TXT "v=DKIM1; k=rsa; p=' in result.stdout
    assert key.stat().st_mode & 0o077 == 0
    again = mss("dkim", "keygen", "hop.mssante.fr", "--out", str(key))
    assert again.returncode == 1  # never overwrites a key
    assert "Traceback" not in again.stderr
