"""swaks, a stock command-line SMTP client, against the MX with the demo certificates
(MSS-TRUST-3)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox

pytestmark = pytest.mark.external


def swaks(
    running: RunningOperator, operator: str, sender: str, to: str
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("swaks")
    if binary is None:
        pytest.skip("swaks is not installed (scripts/test.sh installs it)")
    entry = running.manifest[operator]
    return subprocess.run(
        [
            binary,
            "--server",
            f"127.0.0.1:{running.port('mx')}",
            "--ehlo",
            "mx.peer.test",
            "--tls",
            "--tls-cert",
            str(running.folder / entry["cert"]),
            "--tls-key",
            str(running.folder / entry["key"]),
            "--from",
            sender,
            "--to",
            to,
            "--header",
            "Subject: swaks test",
            "--header",
            "X-MSS-INS: N",
            "--body",
            "Bonjour depuis swaks",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_swaks_delivers_with_the_peer_certificate(running: RunningOperator) -> None:
    to = running.account("PER", rpps="10001234567")["address"]
    before = len(inbox(running, to))
    result = swaks(running, "peer_operator", "dr.bernard@operateur-pair.mssante.fr", to)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0" in result.stdout
    stored = inbox(running, to)
    assert len(stored) == before + 1
    assert b"X-MSS-INS: N" in stored[-1]


def test_swaks_with_untrusted_certificate_is_refused(running: RunningOperator) -> None:
    to = running.account("PER", rpps="10001234567")["address"]
    result = swaks(running, "untrusted_operator", "x@operateur-inconnu.example", to)
    assert result.returncode != 0
    assert "550 5.7.1" in result.stdout
