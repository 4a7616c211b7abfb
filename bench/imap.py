"""Benchmarks of the IMAP server over real TLS sockets (issue 3, "Speed"), SQLite (the default).

    .venv/bin/python bench/imap.py all                 # every figure, 100,000-message mailbox
    .venv/bin/python bench/imap.py all --quick         # a smoke run: small sizes, a few seconds
    .venv/bin/python bench/imap.py select fetch search last10 --messages 100000
    .venv/bin/python bench/imap.py idle --deliveries 200
    .venv/bin/python bench/imap.py conns --connections 2000
    .venv/bin/python bench/imap.py mixed --clients 20 --seconds 30
    .venv/bin/python bench/imap.py all --dir /tmp/imapbench   # keep (and reuse) the built data

How: the operator runs in a child process (``bench/imap.py _serve DIR``) exactly as ``mss serve``
runs the demo (``mss.demo`` configuration: SQLite database and encrypted blob store under DIR,
uvloop, TLS with the demo PKI), so its resident memory is measured alone (``/proc/PID/status``)
and the clients here do not share its CPU budget's interpreter. Before opening its listeners'
doors to the benchmark, the child builds the mailboxes directly through the store API:
``store.deliver()`` of generated ~1.5 KB messages with realistic headers, called from 64
concurrent tasks so group commit files many per transaction — the write path SMTP uses, without
SMTP. The doctor's folders ``Bench<N>`` (the big one) and ``Bench<small>`` (1,000 messages) hold
them; ``--dir`` keeps them for the next run (only the missing messages are added). Demo
passwords are hashed with cheap argon2 parameters (as in the protocol tests): 2,000 logins
would otherwise measure argon2, not IMAP.

The clients are a minimal asyncio IMAP client (below) on uvloop: they read every response line,
literals included, so a figure is the time until the client has the whole answer.

Figures (the issue's targets in brackets):
``select``  SELECT of the big mailbox, first and warm (< 50 ms)
``restart`` the first SELECT of it after each of ``--repeat`` server restarts (< 50 ms)
``fetch``   ``FETCH 1:* (UID FLAGS)`` on it (< 1 s)
``search``  ``UID SEARCH`` on header fields (SUBJECT, FROM, HEADER Message-ID) (< 1 s)
``searchcold`` the first ``UID SEARCH SUBJECT`` of it after each of ``--repeat`` restarts (< 1 s)
``searchfresh`` the first header ``UID SEARCH``es of a big mailbox just built, never searched:
            with a NEW ``--dir`` and as the first figure (the background indexer,
            ``mss.imap.search_warmer``, ran during the build; ``--no-warm`` turns it off),
            with the build's delivery rate (< 1 s)
``last10``  ``UID FETCH`` of the last 10 messages, small vs big mailbox (same cost)
``idle``    SMTP submission -> ``* n EXISTS`` in an idling client, p50/p99 (< 100 ms p99)
``conns``   2,000 idle authenticated connections (SELECTed, in IDLE): server RSS (< 200 MB)
``mixed``   20 clients doing select/fetch/store/search/append/expunge: ops/s, latencies and
            the server's CPU time per operation
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import re
import resource
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCTOR_RPPS = "10001234567"
NURSE_RPPS = "10007654321"
SMALL = 1000
NEEDLE = "Resultats labo"
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


# -- the server side (child process) ---------------------------------------------------------


def generated(n: int, to: str) -> bytes:
    subject = NEEDLE if n % 97 == 0 else "Compte rendu de consultation"
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    head = (
        f"Return-Path: <dr{n % 50}@chu.mssante.fr>\r\n"
        f"Received: from mx.chu.mssante.fr by mx.hopital-demo.mssante.fr; "
        f"{when:%a, %d %b %Y %H:%M:%S} +0000\r\n"
        f"From: Dr {n % 50} <dr{n % 50}@chu.mssante.fr>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Date: {when:%a, %d %b %Y %H:%M:%S} +0000\r\n"
        f"Message-ID: <{n}.{secrets.token_hex(8)}@chu.mssante.fr>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + b"Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n" * 24


async def fill(operator: Any, account: str, folder: str, count: int) -> tuple[int, float]:
    """Deliver the messages ``folder`` lacks; ``(messages added, seconds)``."""
    from sqlalchemy import func, select

    from mailbox_store.models import Delivered, Delivery
    from mailbox_store.tables import messages

    store = operator.store
    found = await store.get_folder(account, folder)
    if found is None:
        await store.create_folder(account, folder)
        have = 0
    else:  # counted in SQL: listing 100,000 records would leave ~6 MB in the server's RSS
        query = select(func.count()).where(messages.c.folder_id == found.id)
        async with operator.engine.connect() as connection:
            have = int((await connection.execute(query)).scalar_one())
    if have >= count:
        return 0, 0.0
    started = time.perf_counter()
    numbers = iter(range(have, count))

    async def worker() -> None:
        for n in numbers:
            [result] = await store.deliver(generated(n, account), [Delivery(account, folder)])
            assert isinstance(result, Delivered), result

    await asyncio.gather(*(worker() for _ in range(64)))
    took = time.perf_counter() - started
    log(f"built {folder}: {count - have} messages in {took:.1f} s")
    return count - have, took


async def serve(folder: Path, messages: int, mixed_clients: int) -> None:
    from config import load_settings
    from mss import demo
    from mss.app import serving

    demo.prepare(folder, port_base=0)
    settings = load_settings(folder / demo.CONFIG)
    cheap = {"argon2_time_cost": 1, "argon2_memory_kib": 8}
    directory = settings.directory.model_copy(update=cheap)
    settings = settings.model_copy(update={"directory": directory})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with serving(settings) as operator:
        await demo.populate(operator, folder)
        demo.write_manifest(operator, folder)
        manifest = json.loads((folder / demo.MANIFEST).read_text())
        doctor = next(a for a in manifest["accounts"] if a.get("rpps") == DOCTOR_RPPS)["address"]
        await fill(operator, doctor, f"Bench{SMALL}", SMALL)
        cpu = time.process_time()
        added, took = await fill(operator, doctor, f"Bench{messages}", messages)
        cpu = time.process_time() - cpu
        for n in range(mixed_clients):
            await fill(operator, doctor, f"Mixed{n}", 200)
        ready = {"ready": True, "pid": os.getpid(), "built": added, "build_seconds": took}
        ready["build_cpu"] = cpu  # the operator's CPU (every thread) while building it
        print(json.dumps(ready), flush=True)
        await stop.wait()


# -- a minimal asyncio IMAP client -------------------------------------------------------------


class Imap:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.counter = 0

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> Imap:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost", limit=1 << 22
        )
        client = cls(reader, writer)
        greeting = await reader.readline()
        assert greeting.startswith(b"* OK"), greeting
        return client

    async def response(self) -> bytes:
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("closed by the server")
        parts = [line]
        while (found := _LITERAL.search(line)) is not None:
            parts.append(await self.reader.readexactly(int(found.group(1))))
            line = await self.reader.readline()
            parts.append(line)
        return b"".join(parts)

    def send(self, text: str | bytes) -> bytes:
        self.counter += 1
        tag = b"b%d" % self.counter
        data = text.encode() if isinstance(text, str) else text
        self.writer.write(tag + b" " + data + b"\r\n")
        return tag

    async def command(self, text: str | bytes) -> tuple[list[bytes], bytes]:
        tag = self.send(text)
        untagged = []
        while not (line := await self.response()).startswith(tag + b" "):
            untagged.append(line)
        return untagged, line

    async def ok(self, text: str | bytes) -> list[bytes]:
        untagged, tagged = await self.command(text)
        if tagged.split(b" ", 2)[1] != b"OK":
            raise RuntimeError(f"{text!r}: {tagged!r}")
        return untagged

    async def login(self, account: dict[str, Any]) -> Imap:
        await self.ok(f'LOGIN "{account["address"]}" "{account["password"]}"')
        return self

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


# -- the bench side ------------------------------------------------------------------------


@dataclass
class Server:
    folder: Path
    process: subprocess.Popen[bytes]
    manifest: dict[str, Any]
    messages: int
    built: int = 0  # messages added to the big mailbox by this start
    build_seconds: float = 0.0
    build_cpu: float = 0.0

    def port(self, name: str) -> int:
        return int(self.manifest["listeners"][name]["port"])

    def account(self, rpps: str) -> dict[str, Any]:
        return next(a for a in self.manifest["accounts"] if a.get("rpps") == rpps)

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.folder / self.manifest["ca_cert"]))

    def cpu(self) -> float:
        """CPU seconds (user + system) the operator process used so far (a figure the other
        loads of a shared machine disturb less than wall time)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    async def client(self, rpps: str = DOCTOR_RPPS) -> Imap:
        return await (await Imap.connect(self.port("imaps"), self.context())).login(
            self.account(rpps)
        )


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_server(folder: Path, messages: int, mixed_clients: int) -> Server:
    log(f"starting the operator in {folder} and building the mailboxes ...")
    process = subprocess.Popen(
        [sys.executable, __file__, "_serve", str(folder), str(messages), str(mixed_clients)],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit("the operator did not start")
    ready = json.loads(line)
    assert ready["ready"]
    manifest = json.loads((folder / "demo.json").read_text())
    built = (ready["built"], ready["build_seconds"], ready["build_cpu"])
    return Server(folder, process, manifest, messages, *built)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed(client: Imap, text: str | bytes) -> tuple[float, list[bytes]]:
    """Seconds until the whole answer to ``text`` was read, and its untagged responses."""
    started = time.perf_counter()
    untagged = await client.ok(text)
    return time.perf_counter() - started, untagged


def figure(name: str, value: str, target: str = "") -> None:
    print(f"{name:<58} {value}{f'   (target {target})' if target else ''}", flush=True)


async def bench_select(server: Server, repeat: int) -> None:
    client = await server.client()
    big = f"Bench{server.messages}"
    first, _ = await timed(client, f"SELECT {big}")
    runs = []
    for _ in range(repeat):
        await client.ok(f"SELECT Bench{SMALL}")
        took, _ = await timed(client, f"SELECT {big}")
        runs.append(took)
    figure(f"SELECT {big} ({server.messages} messages), first", ms(first), "< 50 ms")
    figure(
        f"SELECT {big}, median of {repeat} (p max)",
        f"{ms(statistics.median(runs))} ({max(runs) * 1000:.1f})",
        "< 50 ms",
    )
    await client.close()


async def bench_fetch(server: Server, repeat: int) -> None:
    client = await server.client()
    big = f"Bench{server.messages}"
    await client.ok(f"EXAMINE {big}")
    runs = []
    for _ in range(repeat):
        took, untagged = await timed(client, "FETCH 1:* (UID FLAGS)")
        assert len(untagged) >= server.messages, len(untagged)
        runs.append(took)
    figure(
        f"FETCH 1:* (UID FLAGS) on {server.messages}, best / median",
        f"{ms(min(runs))} / {ms(statistics.median(runs))}",
        "< 1 s",
    )
    await client.close()


async def bench_search(server: Server, repeat: int) -> None:
    client = await server.client()
    big = f"Bench{server.messages}"
    await client.ok(f"EXAMINE {big}")
    expected = len(range(0, server.messages, 97))
    for criteria in (
        f'SUBJECT "{NEEDLE}"',
        'FROM "dr7@chu.mssante.fr"',
        'HEADER Message-ID "<12345."',
        'UNSEEN SUBJECT "consultation"',
        'SENTON 2-Jan-2024 TEXT "Resultats labo"',
    ):
        runs, cpu, hits = [], [], 0
        for _ in range(repeat):
            before = server.cpu()
            took, untagged = await timed(client, f"UID SEARCH {criteria}")
            cpu.append(server.cpu() - before)
            hits = sum(len(line.split()) - 2 for line in untagged if line.startswith(b"* SEARCH"))
            runs.append(took)
        if criteria.startswith("SUBJECT"):
            assert hits == expected, (hits, expected)
        figure(
            f"UID SEARCH {criteria} ({hits} hits), first / best / median",
            f"{ms(runs[0])} / {ms(min(runs))} / {ms(statistics.median(runs))}",
            "< 1 s",
        )
        figure(
            "    server CPU, first / median",
            f"{ms(cpu[0])} / {ms(statistics.median(cpu))}",
        )
    await client.close()


async def bench_search_cold(server: Server, repeat: int, clients: int) -> Server:
    """The first header SEARCHes of the big mailbox by a server just started (its index columns
    loaded from their saved, sealed copies: ``mss.imap.search_persist``), ``repeat`` restarts.
    A first search of each before the restarts builds the columns, saved in the background."""
    big = f"Bench{server.messages}"
    criteria = (f'SUBJECT "{NEEDLE}"', 'FROM "dr7@chu.mssante.fr"', 'HEADER Message-ID "<12345."')
    client = await server.client()
    await client.ok(f"EXAMINE {big}")
    for criterion in criteria:
        await client.ok(f"UID SEARCH {criterion}")
    await client.close()
    await asyncio.sleep(5)  # the background save of the columns
    runs: dict[str, list[float]] = {c: [] for c in criteria}
    cpu: dict[str, list[float]] = {c: [] for c in criteria}
    for _ in range(repeat):
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, 60)
        server = start_server(server.folder, server.messages, clients)
        client = await server.client()
        await client.ok(f"EXAMINE {big}")
        for criterion in criteria:
            before = server.cpu()
            took, untagged = await timed(client, f"UID SEARCH {criterion}")
            cpu[criterion].append(server.cpu() - before)
            runs[criterion].append(took)
            if criterion.startswith("SUBJECT"):
                hits = sum(len(x.split()) - 2 for x in untagged if x.startswith(b"* SEARCH"))
                assert hits == len(range(0, server.messages, 97)), hits
        await client.close()
    for criterion in criteria:
        figure(
            f"first UID SEARCH {criterion} after a restart, median of {repeat} (max)",
            f"{ms(statistics.median(runs[criterion]))} ({max(runs[criterion]) * 1000:.1f})",
            "< 1 s",
        )
        values = cpu[criterion]
        figure(
            "    server CPU, median (max)",
            f"{ms(statistics.median(values))} ({max(values) * 1000:.1f})",
        )
    return server


async def bench_search_fresh(server: Server) -> None:
    """The first header SEARCHes of the big mailbox right after it was built (never searched
    before): answered from the columns the background indexer built during the build."""
    if server.built < server.messages:
        log(f"searchfresh: Bench{server.messages} was not built by this run (use a new --dir)")
    big = f"Bench{server.messages}"
    client = await server.client()
    await client.ok(f"EXAMINE {big}")
    criteria = (f'SUBJECT "{NEEDLE}"', 'FROM "dr7@chu.mssante.fr"', 'HEADER Message-ID "<12345."')
    for criterion in criteria:
        before = server.cpu()
        took, untagged = await timed(client, f"UID SEARCH {criterion}")
        cpu = server.cpu() - before
        if criterion.startswith("SUBJECT"):
            hits = sum(len(x.split()) - 2 for x in untagged if x.startswith(b"* SEARCH"))
            assert hits == len(range(0, server.messages, 97)), hits
        figure(
            f"first UID SEARCH {criterion} of a folder just built (server CPU)",
            f"{ms(took)} ({ms(cpu)})",
            "< 1 s",
        )
    await client.close()
    if server.built:
        figure(
            f"build: {server.built} deliveries (store.deliver, 64 tasks)",
            f"{server.built / server.build_seconds:.0f} msgs/s in {server.build_seconds:.1f} s, "
            f"server CPU {server.build_cpu:.1f} s",
        )


async def bench_last10(server: Server, repeat: int) -> None:
    client = await server.client()
    medians = {}
    for size in (SMALL, server.messages):
        untagged = await client.ok(f"EXAMINE Bench{size}")
        uidnext = int(
            next(
                re.search(rb"UIDNEXT (\d+)", u).group(1)  # type: ignore[union-attr]
                for u in untagged
                if b"UIDNEXT" in u
            )
        )
        command = f"UID FETCH {uidnext - 10}:* (UID FLAGS RFC822.SIZE ENVELOPE)"
        runs = []
        for _ in range(repeat):
            took, fetched = await timed(client, command)
            assert len(fetched) == 10, len(fetched)
            runs.append(took)
        medians[size] = statistics.median(runs)
        figure(f"UID FETCH last 10 (ENVELOPE) on {size}, median", ms(medians[size]))
    ratio = medians[server.messages] / medians[SMALL]
    figure(f"  ratio {server.messages} / {SMALL}", f"{ratio:8.2f} x", "about 1")
    await client.close()


async def exists_time(client: Imap) -> float:
    """When the next ``* n EXISTS`` arrived."""
    while not (await client.response()).endswith(b" EXISTS\r\n"):
        pass
    return time.perf_counter()


async def bench_idle(server: Server, deliveries: int) -> None:
    import aiosmtplib

    reader = server.account(DOCTOR_RPPS)
    sender = server.account(NURSE_RPPS)
    client = await server.client()
    untagged = await client.ok("SELECT INBOX")
    exists = int(next(u.split()[1] for u in untagged if u.endswith(b" EXISTS\r\n")))
    smtp = aiosmtplib.SMTP(
        hostname="localhost",
        port=server.port("submission"),
        tls_context=server.context(),
        start_tls=True,
    )
    await smtp.connect()
    await smtp.login(sender["address"], sender["password"])
    from_send, from_reply = [], []
    for n in range(deliveries):
        tag = client.send("IDLE")
        assert (await client.response()).startswith(b"+")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = sender["address"], reader["address"], f"I{n}"
        mail.set_content("Bonjour.\n")
        started = time.perf_counter()
        send = asyncio.ensure_future(smtp.send_message(mail))
        while not (line := await client.response()).endswith(b" EXISTS\r\n"):
            pass
        arrived = time.perf_counter()
        await send
        exists += 1
        assert int(line.split()[1]) == exists, line
        from_send.append(arrived - started)
        client.writer.write(b"DONE\r\n")
        while not (await client.response()).startswith(tag + b" "):
            pass
    # The same once more, measuring from the SMTP 250 (the message is filed) to EXISTS.
    for n in range(deliveries):
        tag = client.send("IDLE")
        assert (await client.response()).startswith(b"+")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = sender["address"], reader["address"], f"J{n}"
        mail.set_content("Bonjour.\n")
        watcher = asyncio.ensure_future(exists_time(client))
        await smtp.send_message(mail)
        accepted = time.perf_counter()
        from_reply.append(max(0.0, await watcher - accepted))
        client.writer.write(b"DONE\r\n")
        while not (await client.response()).startswith(tag + b" "):
            pass
    await smtp.quit()
    await client.close()
    for name, values in (("SMTP send start", from_send), ("SMTP 250 reply", from_reply)):
        figure(
            f"{name} -> * n EXISTS in IDLE ({deliveries}): p50 / p99 / max",
            f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))} / {ms(max(values))}",
            "p99 < 100 ms",
        )


async def bench_conns(server: Server, connections: int) -> None:
    base = server.rss()
    opened: list[Imap] = []
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(50)

    async def one() -> None:
        async with semaphore:
            client = await server.client()
            await client.ok("SELECT INBOX")
            client.send("IDLE")
            assert (await client.response()).startswith(b"+")
            opened.append(client)

    await asyncio.gather(*(one() for _ in range(connections)))
    took = time.perf_counter() - started
    await asyncio.sleep(2)
    total = server.rss()
    figure(f"{connections} connections opened, logged in, SELECT, IDLE in", f"{took:8.1f} s")
    figure("server RSS before connections", f"{base / 2**20:8.1f} MB")
    figure(
        f"server RSS with {connections} idle connections", f"{total / 2**20:8.1f} MB", "< 200 MB"
    )
    figure("  per connection", f"{(total - base) / connections / 1024:8.1f} KB")
    probe = await server.client()  # still served promptly
    took, _ = await timed(probe, "NOOP")
    figure("NOOP of one more client meanwhile", ms(took))
    await probe.close()
    await asyncio.gather(*(c.close() for c in opened))


async def bench_mixed(server: Server, clients: int, seconds: float) -> None:
    latencies: dict[str, list[float]] = {}
    sender = server.account(NURSE_RPPS)["address"]
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        rng = random.Random(n)  # a workload, not a secret
        client = await server.client()
        folder = f"Mixed{n}"
        await client.ok(f"SELECT {folder}")
        ops = ["select", "fetch", "fetch", "store", "search", "append", "expunge"]
        while time.perf_counter() < deadline:
            op = rng.choice(ops)
            text: str | bytes
            if op == "select":
                text = f"SELECT {folder}"
            elif op == "fetch":
                text = (
                    "UID FETCH 1:* (UID FLAGS)"
                    if rng.random() < 0.5
                    else ("FETCH 1:5 (BODY.PEEK[] ENVELOPE)")
                )
            elif op == "store":
                text = f"STORE {rng.randint(1, 50)} +FLAGS (\\Seen)"
            elif op == "search":
                text = "UID SEARCH UNSEEN SUBJECT consultation"
            elif op == "append":
                body = generated(rng.randint(0, 10**6), sender)
                text = f"APPEND {folder} {{{len(body)}+}}\r\n".encode() + body
            else:
                await client.ok(f"STORE {rng.randint(1, 50)} +FLAGS (\\Deleted)")
                text = "EXPUNGE"
            took, _ = await timed(client, text)
            latencies.setdefault(op, []).append(took)
        await client.close()

    started, cpu = time.perf_counter(), server.cpu()
    await asyncio.gather(*(worker(n) for n in range(clients)))
    took, cpu = time.perf_counter() - started, server.cpu() - cpu
    total = sum(len(v) for v in latencies.values())
    figure(f"mixed workload, {clients} clients, {took:.0f} s", f"{total / took:8.1f} ops/s")
    figure("  server CPU per operation (less disturbed by other loads)", ms(cpu / total))
    for op, values in sorted(latencies.items()):
        figure(
            f"  {op:<8} n={len(values):<6} p50 / p95 / p99",
            f"{ms(percentile(values, 50))} / {ms(percentile(values, 95))} / "
            f"{ms(percentile(values, 99))}",
        )


async def bench_restart(server: Server, repeat: int, clients: int) -> Server:
    """The first SELECT of the big mailbox by a server just started (the SELECT summary comes
    from the folder's saved state, ``mailbox_store.summary_store``), ``repeat`` restarts."""
    runs = []
    for _ in range(repeat):
        server.process.send_signal(signal.SIGTERM)  # a clean stop saves the summaries due
        await asyncio.to_thread(server.process.wait, 60)
        server = start_server(server.folder, server.messages, clients)
        client = await server.client()
        took, _ = await timed(client, f"SELECT Bench{server.messages}")
        runs.append(took)
        await client.close()
    figure(
        f"first SELECT Bench{server.messages} after a restart, median of {repeat} (max)",
        f"{ms(statistics.median(runs))} ({max(runs) * 1000:.1f})",
        "< 50 ms",
    )
    return server


FIGURES = (
    "searchfresh",
    "select",
    "restart",
    "fetch",
    "search",
    "searchcold",
    "last10",
    "idle",
    "conns",
    "mixed",
)


async def main(args: argparse.Namespace) -> None:
    figures = FIGURES if "all" in args.figures else tuple(args.figures)
    keep = args.dir is not None
    folder = Path(args.dir) if keep else Path(tempfile.mkdtemp(prefix="imapbench-"))
    server = start_server(folder, args.messages, args.clients)
    try:
        print(f"IMAP benchmarks: {server.messages} messages, SQLite, data in {folder}")
        for name in figures:
            if name == "select":
                await bench_select(server, args.repeat)
            elif name == "restart":
                server = await bench_restart(server, args.repeat, args.clients)
            elif name == "fetch":
                await bench_fetch(server, args.repeat)
            elif name == "search":
                await bench_search(server, args.repeat)
            elif name == "searchcold":
                server = await bench_search_cold(server, args.repeat, args.clients)
            elif name == "searchfresh":
                await bench_search_fresh(server)
            elif name == "last10":
                await bench_last10(server, args.repeat)
            elif name == "idle":
                await bench_idle(server, args.deliveries)
            elif name == "conns":
                await bench_conns(server, args.connections)
            elif name == "mixed":
                await bench_mixed(server, args.clients, args.seconds)
    finally:
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, 60)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    del soft


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", nargs="+", choices=(*FIGURES, "all"))
    parser.add_argument("--messages", type=int, default=100_000, help="size of the big mailbox")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timed command")
    parser.add_argument("--deliveries", type=int, default=200, help="IDLE latency samples")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20, help="mixed workload clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="mixed workload duration")
    parser.add_argument("--dir", help="keep the operator's data here (reused when present)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    parser.add_argument(
        "--no-warm", action="store_true", help="no background SEARCH indexer in the operator"
    )
    args = parser.parse_args()
    if args.no_warm:  # the child inherits it (settings from the MSS_* environment)
        os.environ["MSS_IMAP__SEARCH_INDEX_WARM"] = "false"
    if args.quick:
        args.messages, args.repeat, args.deliveries = 2000, 2, 20
        args.connections, args.clients, args.seconds = 100, 4, 3.0
    return args


if __name__ == "__main__":
    raise_fd_limit()
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        from mss.malloc import tune_allocator

        logging.basicConfig(level=logging.WARNING)
        tune_allocator()  # as ``mss serve`` does (mss/cli/base.py run_loop)
        uvloop.run(serve(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    else:
        uvloop.run(main(parse()))
