"""Outbound relay benchmark: from our durable queue to a local sink operator over mutual TLS.

    .venv/bin/python bench/relay.py --messages 3000 --connections 10 --size 10240
    .venv/bin/python bench/relay.py --db postgresql+asyncpg://mss:mss@127.0.0.1/mss_h4

The real path: ``SqlOutboundQueue`` (bodies sealed, SQLite with fsync by default), the
``QueueWorker`` and the ``SmtpRelay`` (TLS 1.2+, the sink's certificate verified and its DN
checked against the whitelist, our client certificate presented, connections reused). The sink
is a minimal SMTP server in a process of its own (``--sink``) that requires a client
certificate, answers 250 and reports the wall-clock time of each 250 on its standard output.

Two figures:
- throughput: N messages already queued, drained by the workers (messages/s);
- latency: messages enqueued at a steady rate (``--rate``) the way the delivery service does
  (``Enqueuer``, with the running worker taking fresh messages over), time from the end of the
  enqueue (our ``250`` at submission) to the sink's ``250`` (median and p99).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.settings import OutboundSettings, TlsSettings
from directory.dn import normalise_dn
from mailbox_store.blobs import KeyRing
from mss import pki
from mss.audit import MemoryAuditLog
from mss.db import make_engine
from mss.delivery.envelope import Envelope, Recipient
from mss.delivery.outbound import Enqueuer
from mss.outbound import NewMessage, NewRecipient, SqlOutboundQueue
from mss.outbound.schedule import RetryPolicy
from mss.outbound.tables import metadata
from mss.relay.client import SmtpRelay
from mss.relay.worker import QueueWorker, WorkerSettings
from mss.tls import server_context

DOMAIN = "sink.test"


class Sink:
    """Answers 250 to everything after STARTTLS with a client certificate; prints the time of
    each message's final 250 (by its ``X-Bench-Id``)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            await self._talk(reader, writer)
        writer.close()

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink.test ESMTP\r\n")
        print("connection", flush=True)
        while line := await reader.readuntil(b"\r\n"):
            verb = line[:4].upper()
            if verb == b"EHLO":
                tls = b"" if writer.get_extra_info("ssl_object") else b"250-STARTTLS\r\n"
                writer.write(
                    b"250-sink.test\r\n" + tls + b"250-PIPELINING\r\n250-8BITMIME\r\n"
                    b"250-DSN\r\n250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES\r\n"
                )
            elif verb == b"STAR":
                writer.write(b"220 2.0.0 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(self.context)
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                body = await reader.readuntil(b"\r\n.\r\n")
                writer.write(b"250 2.0.0 queued\r\n")
                self._note(body)
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 2.0.0 ok\r\n")
            await writer.drain()

    def _note(self, body: bytes) -> None:
        start = body.find(b"X-Bench-Id: ")
        if start >= 0:
            ident = body[start + 12 : body.index(b"\r\n", start)].decode()
            print(f"accepted {ident} {time.time():.6f}", flush=True)


async def run_sink(cert: str, key: str, anchors: str) -> None:
    tls = TlsSettings(cert_file=Path(cert), key_file=Path(key), trust_anchors=Path(anchors))
    context = server_context(tls, request_client_cert=True)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as an operator's MX
    server = await asyncio.start_server(Sink(context).serve, "127.0.0.1", 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


class SinkProcess:
    """The sink in its own process; ``accepted`` maps message ids to the time of their 250."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.connections = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, peer: pki.Issued, ca: pki.Issued) -> int:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--sink",
            str(peer.cert_path),
            str(peer.key_path),
            str(ca.cert_path),
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        first = (await self._process.stdout.readline()).split()
        self._reader = asyncio.create_task(self._read(self._process.stdout))
        return int(first[1])

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            words = line.split()
            if words[0] == b"accepted":
                self.accepted[words[1].decode()] = float(words[2])
            else:
                self.connections += 1

    async def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()


class Whitelist:
    def __init__(self, dn: str) -> None:
        self._listed = frozenset({normalise_dn(dn)})

    async def whitelisted_dns(self, domain: str) -> frozenset[str]:
        return self._listed if domain == DOMAIN else frozenset()


def body(ident: str, size: int) -> bytes:
    head = (
        f"From: <dr.martin@hopital.test>\r\nTo: <dr.bernard@{DOMAIN}>\r\n"
        f"Subject: bench\r\nMessage-ID: <{ident}@hopital.test>\r\nX-Bench-Id: {ident}\r\n\r\n"
    ).encode()
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def queued(ident: str, size: int) -> NewMessage:
    now = datetime.now(UTC)
    return NewMessage(
        queue_id=ident,
        sender="dr.martin@hopital.test",
        recipients=(NewRecipient(f"dr.bernard@{DOMAIN}"),),
        body=body(ident, size),
        created_at=now,
        expires_at=now + timedelta(days=5),
    )


class NoReports:
    async def report(self, *args: object, **kwargs: object) -> bool:
        return True


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mss-bench-relay-"))
    ca = pki.create_ca(folder)
    ours = pki.issue(ca, folder, "ours", common_name="mx.hopital.test", organisation="Hopital")
    peer = pki.issue(ca, folder, "sink", common_name="mx.sink.test", organisation="Sink")
    sink = SinkProcess()
    port = await sink.start(peer, ca)
    url = args.db or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    engine = make_engine(url, fsync=not args.no_fsync)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    outbound = OutboundSettings(
        routes={DOMAIN: f"127.0.0.1:{port}"},
        connections_per_domain=args.connections,
        max_connections=100,  # the default: claims and settlements in groups of up to 100
        poll_interval=0.5,
    )
    tls = TlsSettings(cert_file=ours.cert_path, key_file=ours.key_path, trust_anchors=ca.cert_path)
    keyring = KeyRing({"k": secrets.token_bytes(32)}, active_key="k")
    queue = SqlOutboundQueue(engine, keyring)
    relay = SmtpRelay(
        outbound=outbound, tls=tls, hostname="mx.hopital.test", trust=Whitelist(peer.subject_dn)
    )
    worker = QueueWorker(
        queue=queue,
        relay=relay,
        reporter=NoReports(),
        policy=RetryPolicy.from_settings(outbound),
        settings=WorkerSettings.from_settings(outbound),
        audit=MemoryAuditLog(),
    )
    enqueuer = Enqueuer(queue, RetryPolicy.from_settings(outbound), lambda: datetime.now(UTC))
    try:
        await latency(enqueuer, worker, sink, args)  # first: the steady state, fresh files
        enqueuer.handoff = None
        await throughput(queue, worker, sink, args)
    finally:
        await relay.close()
        await sink.stop()
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"sink connections: {sink.connections} (reused across messages)")


async def throughput(
    queue: SqlOutboundQueue, worker: QueueWorker, sink: SinkProcess, args: argparse.Namespace
) -> None:
    idents = [f"T{n:07d}" for n in range(args.messages)]
    for start in range(0, len(idents), 50):
        await asyncio.gather(
            *(queue.enqueue(queued(i, args.size)) for i in idents[start : start + 50])
        )
    began, cpu = time.time(), time.process_time()
    await worker.run_until_idle()
    elapsed, cpu = time.time() - began, time.process_time() - cpu
    missing = [i for i in idents if i not in sink.accepted]
    print(
        f"throughput: {len(idents)} messages of {args.size} B, {args.connections} connections: "
        f"{len(idents) / elapsed:.0f} msg/s ({elapsed:.2f} s), missing {len(missing)}; "
        f"our CPU {cpu * 1000 / len(idents):.2f} ms/msg"
    )


async def latency(
    enqueuer: Enqueuer, worker: QueueWorker, sink: SinkProcess, args: argparse.Namespace
) -> None:
    task = asyncio.create_task(worker.run())
    enqueuer.handoff = worker
    envelope = Envelope("dr.martin@hopital.test", (Recipient(f"dr.bernard@{DOMAIN}"),))
    acked: dict[str, float] = {}
    interval = 1 / args.rate
    count = int(args.rate * args.seconds)

    async def submit(ident: str) -> None:
        await enqueuer.enqueue(ident, envelope, envelope.recipients, b"", body(ident, args.size))
        acked[ident] = time.time()

    began = time.perf_counter()
    pending = []
    for n in range(count):
        pending.append(asyncio.create_task(submit(f"L{n:07d}")))
        await asyncio.sleep(max(0.0, began + (n + 1) * interval - time.perf_counter()))
    await asyncio.gather(*pending)
    for _ in range(600):
        if all(i in sink.accepted for i in acked):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    delays = sorted((sink.accepted[i] - t) * 1000 for i, t in acked.items() if i in sink.accepted)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"latency at {args.rate:.0f} msg/s offered for {args.seconds:.0f} s: "
        f"p50 {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms "
        f"(enqueue end -> peer 250; {len(delays)}/{len(acked)} delivered)"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument("--rate", type=float, default=200.0, help="offered msg/s (latency run)")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency run length")
    parser.add_argument("--db", help="SQLAlchemy URL (default: SQLite in a temp folder)")
    parser.add_argument("--no-fsync", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    import uvloop

    if len(sys.argv) == 5 and sys.argv[1] == "--sink":
        uvloop.run(run_sink(*sys.argv[2:]))
    else:
        uvloop.run(main(parse()))
