"""The outbound queue across nodes (ARCHITECTURE, "Scaling out"; MSS-TRUST-4 relaying): work
queued on a node that cannot take it wakes another node's worker through PostgreSQL NOTIFY
(``mss.cluster``), instead of waiting for that worker's poll."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from config import load_settings
from mailbox_store.notify_pg import PgChangeHub
from mss import demo
from mss.app import open_operator, submit_internal
from tests.conftest import empty_database
from tests.protocol.relay_sink import SmtpSink, sink_tls
from tests.protocol.test_imap_cluster import _until, database_url, node, on_postgres

pytestmark = pytest.mark.postgres


async def test_a_message_queued_on_a_node_without_worker_is_relayed_by_another(
    tmp_path: Path,
) -> None:
    """B (a node whose queue worker is not running, like ``mss`` commands) queues a message
    for the peer operator: A's worker, which would poll only once a minute, relays it at
    once because B's NOTIFY woke it."""
    url = database_url()
    await empty_database(url)
    folder = tmp_path / "demo"
    demo.prepare(folder, port_base=0)
    pki = folder / "pki"
    sink = SmtpSink(
        sink_tls(pki / "peer.pem", pki / "peer.key", pki / "ca.pem", require_client_cert=True)
    )
    port = await sink.start()
    routes = {demo.PEER_DOMAIN: f"127.0.0.1:{port}"}
    a = await asyncio.to_thread(node, folder, url, routes=routes, poll_interval=60.0)
    try:
        settings = on_postgres(load_settings(folder / demo.CONFIG), url, routes=routes)
        async with open_operator(settings) as b:  # no listeners, no workers
            assert isinstance(b.hub, PgChangeHub)
            await asyncio.wait_for(b.hub.connected.wait(), 10)
            started = time.perf_counter()
            assert await submit_internal(b.delivery, f"dr.bernard@{demo.PEER_DOMAIN}", _mdn())
            await _until(lambda: bool(sink.delivered), 20)
            took = time.perf_counter() - started
        print(f"\nqueued on B -> relayed by A's worker: {took * 1000:.0f} ms (A polls every 60 s)")
        assert took < 10
        [delivered] = sink.delivered
        assert delivered.rcpts == [f"RCPT TO:<dr.bernard@{demo.PEER_DOMAIN}>"]
    finally:
        await asyncio.to_thread(a.stop)
        await sink.stop()


def _mdn() -> bytes:
    return (
        b"From: <mailer-daemon@hopital-demo.mssante.fr>\r\n"
        b"To: <dr.bernard@operateur-pair.mssante.fr>\r\n"
        b"Subject: test\r\n"
        b"Message-ID: <cluster-queue@hopital-demo.mssante.fr>\r\n\r\n"
        b"Bonjour.\r\n"
    )
