"""A 250 means durably stored: the server is killed with SIGKILL while clients send; after a
restart every acknowledged message is in the store exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from config import load_settings
from mss import demo
from mss.app import open_operator
from tests.protocol.mail import message

pytestmark = pytest.mark.slow

PEER_SENDER = "dr.bernard@operateur-pair.mssante.fr"


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    manifest_path = folder / demo.MANIFEST
    manifest_path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "MSS_DIRECTORY__ARGON2_TIME_COST": "1",
        "MSS_DIRECTORY__ARGON2_MEMORY_KIB": "8",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mss", "demo", "--dir", str(folder), "--port-base", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not manifest_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("demo server did not start")
        time.sleep(0.1)
    time.sleep(0.2)
    return process, json.loads(manifest_path.read_text())


def sender_loop(
    port: int, context: ssl.SSLContext, to: str, acked: list[str], stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("mx.peer.test")
                client.starttls(context=context)
                client.ehlo("mx.peer.test")
                while not stop.is_set():
                    token = uuid.uuid4().hex
                    client.sendmail(PEER_SENDER, [to], message(PEER_SENDER, to, subject=token))
                    acked.append(token)
        except (OSError, smtplib.SMTPException):
            return  # the server died under us


def count_tokens(folder: Path, to: str, tokens: list[str]) -> dict[str, int]:
    async def read() -> dict[str, int]:
        settings = load_settings(folder / demo.CONFIG)
        counts = dict.fromkeys(tokens, 0)
        async with open_operator(settings) as operator:
            inbox = await operator.store.get_folder(to, "INBOX")
            assert inbox is not None
            for record in await operator.store.list_messages(inbox.id):
                body = await operator.store.get_body(inbox.id, record.uid)
                for line in body.split(b"\r\n"):
                    if line.startswith(b"Subject: "):
                        token = line[9:].decode()
                        if token in counts:
                            counts[token] += 1
                        break
        return counts

    return asyncio.run(read())


def test_sigkill_while_sending_loses_no_acknowledged_message(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    process, manifest = start_server(folder)
    try:
        listeners = manifest["listeners"]
        assert isinstance(listeners, dict)
        port = int(listeners["mx"]["port"])
        accounts = manifest["accounts"]
        assert isinstance(accounts, list)
        to = next(a["address"] for a in accounts if a["kind"] == "PER")
        context = ssl.create_default_context(cafile=str(folder / "pki" / "ca.pem"))
        context.check_hostname = False
        context.load_cert_chain(folder / "pki" / "peer.pem", folder / "pki" / "peer.key")
        acked: list[str] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=sender_loop, args=(port, context, to, acked, stop))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acked) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(acked) >= 50, "the load did not get going"

    restarted, _ = start_server(folder)  # the operator starts again on the same data
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=30) == 0

    counts = count_tokens(folder, to, acked)
    lost = [t for t, n in counts.items() if n == 0]
    doubled = [t for t, n in counts.items() if n > 1]
    assert lost == [], f"{len(lost)} acknowledged messages lost"
    assert doubled == []
