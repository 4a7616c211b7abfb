"""A queued message is never lost: ``mss demo`` is killed with SIGKILL while professionals submit
mail for a peer operator and its queue relays it to the peer (a TLS sink requiring our client
certificate, and defers every other recipient, so that at the kill some messages are delivered,
some in flight and some waiting for a retry); after a restart, every message that got its
``250`` reaches the peer at least once (issue 4: "a crash at any point re-delivers and never
loses a message", counted)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from mss import demo
from tests.protocol.mail import message
from tests.protocol.relay_sink import SmtpSink, sink_tls

pytestmark = pytest.mark.slow

PEER_USER = f"dr.bernard@{demo.PEER_DOMAIN}"


def start_server(folder: Path, sink_port: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    manifest_path = folder / demo.MANIFEST
    manifest_path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "MSS_DIRECTORY__ARGON2_TIME_COST": "1",
        "MSS_DIRECTORY__ARGON2_MEMORY_KIB": "8",
        "MSS_SMTP__AUTH_FAILURE_DELAY": "0",
        "MSS_OUTBOUND__ROUTES": json.dumps({demo.PEER_DOMAIN: f"127.0.0.1:{sink_port}"}),
        "MSS_OUTBOUND__RETRY_SCHEDULE": "[0.5]",
        "MSS_OUTBOUND__POLL_INTERVAL": "0.2",
        "MSS_OUTBOUND__LEASE_TIME": "3",  # a killed worker's recipients are due again soon
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


async def sender(
    port: int, context: ssl.SSLContext, login: str, password: str, acked: list[str]
) -> None:
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, start_tls=True, tls_context=context, timeout=10
    )
    try:
        await client.connect()
        await client.login(login, password)
        while True:
            token = uuid.uuid4().hex
            await client.sendmail(login, [PEER_USER], message(login, PEER_USER, subject=token))
            acked.append(token)
    except (OSError, aiosmtplib.SMTPException):
        return  # the server died under us


async def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


def tokens_at(sink: SmtpSink) -> dict[str, int]:
    counts: dict[str, int] = {}
    for transaction in sink.delivered:
        for line in transaction.body.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                token = line[9:].decode()
                counts[token] = counts.get(token, 0) + 1
                break
    return counts


async def test_sigkill_while_relaying_loses_no_queued_message(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo.prepare(folder, port_base=0)
    pki = folder / "pki"
    flaky = {"on": True}  # every other recipient deferred: a backlog of retries builds up
    turns = itertools.count()

    def rcpt_reply(_address: str) -> str:
        if flaky["on"] and next(turns) % 2:
            return "451 4.3.0 busy, try again later"
        return "250 2.1.5 ok"

    sink = SmtpSink(
        sink_tls(pki / "peer.pem", pki / "peer.key", pki / "ca.pem", require_client_cert=True),
        rcpt_reply=rcpt_reply,
    )
    sink_port = await sink.start()
    process, manifest = await asyncio.to_thread(start_server, folder, sink_port)
    acked: list[str] = []
    try:
        doctor = next(a for a in manifest["accounts"] if a["kind"] == "PER")
        context = ssl.create_default_context(cafile=str(folder / manifest["ca_cert"]))
        context.check_hostname = False
        port = int(manifest["listeners"]["submission"]["port"])
        senders = [
            asyncio.create_task(sender(port, context, doctor["address"], doctor["password"], acked))
            for _ in range(6)
        ]
        await wait_until(lambda: len(acked) >= 150 and bool(sink.delivered), 30)
        process.send_signal(signal.SIGKILL)  # mid-submission and mid-relay
        await asyncio.to_thread(process.wait, 10)
        await asyncio.wait_for(asyncio.gather(*senders), 20)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(acked) >= 50, "the load did not get going"
    delivered_before = len(tokens_at(sink))
    assert delivered_before < len(acked), "the kill came after everything was relayed"

    flaky["on"] = False
    restarted, _ = await asyncio.to_thread(start_server, folder, sink_port)
    try:
        await wait_until(lambda: set(acked) <= set(tokens_at(sink)), 60)
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(restarted.wait, 30) == 0
        await sink.stop()
    counts = tokens_at(sink)
    lost = [t for t in acked if counts.get(t, 0) == 0]
    again = sum(1 for t in acked if counts.get(t, 0) > 1)
    print(f"acked={len(acked)} at peer before kill={delivered_before} redelivered={again}")
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged messages never reached the peer"
