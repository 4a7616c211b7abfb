"""Benchmark of the mailbox store reads IMAP needs, on a large folder, SQLite (embedded default).

    .venv/bin/python bench/store_imap.py --messages 100000

The folder is built through the real write path: ``deliver()`` called concurrently, so group
commit files up to 128 deliveries per transaction; bodies of ~1.5 KB with realistic headers are
sealed inline in the database and their header sections sealed in ``mbx_headers``, as in
production (fsync off while building, to build faster; reads do not depend on it). A second,
small folder of ``--small`` messages shows what does not depend on the folder's size.

Prints, per operation, the best and median wall time of ``--repeat`` runs and the median CPU
time of the process, in milliseconds: ``summary()`` (what SELECT needs) from an empty cache, from
the cache unchanged, after one delivery and after one expunge; ``list_messages`` of the whole
folder; ``iter_headers`` over the whole folder with a substring test on Subject (SEARCH HEADER);
``list_messages`` of the last 10 UIDs, ``get_header`` of one message and ``changed_since``, on
both folders. The load average is printed too: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.inline import InlineBlobs
from mailbox_store.models import Delivered, Delivery, FlagMode
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import metadata
from mss.db import make_engine

BIG = "big@bench.mssante.fr"
SMALL = "small@bench.mssante.fr"
NEEDLE = b"Subject: Resultats labo"


def body(n: int) -> bytes:
    subject = "Resultats labo" if n % 97 == 0 else "Compte rendu de consultation"
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    head = (
        f"Return-Path: <dr{n % 50}@chu.mssante.fr>\r\n"
        f"Received: from mx.chu.mssante.fr by mx.bench.mssante.fr; {when:%a, %d %b %Y %H:%M:%S} "
        "+0000\r\n"
        f"From: Dr {n % 50} <dr{n % 50}@chu.mssante.fr>\r\n"
        f"To: <{BIG}>\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Date: {when:%a, %d %b %Y %H:%M:%S} +0000\r\n"
        f"Message-ID: <{n}.{secrets.token_hex(8)}@chu.mssante.fr>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "X-MSS-Example: bench\r\n\r\n"
    )
    return head.encode() + b"Lorem ipsum dolor sit amet.\r\n" * 40


async def build(store: SqlMailboxStore, account: str, count: int, concurrency: int) -> float:
    started = time.perf_counter()
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            [result] = await store.deliver(body(n), [Delivery(account)])
            assert isinstance(result, Delivered), result

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


Prepare = Callable[[], Awaitable[Any]] | None


async def timed(
    repeat: int, action: Callable[[], Awaitable[Any]], prepare: Prepare = None
) -> tuple[float, float, float, Any]:
    """Best and median wall time, and median CPU time of the process (all threads: SQLite's
    included), in ms; CPU time is what the machine's load does not inflate much. ``prepare``
    runs before each timed run, untimed."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        if prepare is not None:
            await prepare()
        started, cpu = time.perf_counter(), time.process_time()
        result = await action()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return min(walls), statistics.median(walls), statistics.median(cpus), result


async def header_search(store: SqlMailboxStore, folder_id: int) -> int:
    hits = 0
    async for batch in store.iter_headers(folder_id):
        hits += sum(1 for _, header in batch if NEEDLE in header)
    return hits


async def measure(
    store: SqlMailboxStore, fresh: Callable[[], SqlMailboxStore], account: str, repeat: int
) -> None:
    folder = await store.get_folder(account, "INBOX")
    assert folder is not None
    fid, last = folder.id, folder.uidnext - 1

    async def cold_summary() -> Any:
        other = fresh()  # an empty summary cache: a first SELECT on this node
        try:
            return await other.summary(fid)
        finally:
            await other.close()

    async def deliver_one() -> None:
        await store.deliver(body(last), [Delivery(account)])

    async def expunge_one() -> None:
        newest = (await store.get_folder(account, "INBOX")).uidnext - 1  # type: ignore[union-attr]
        await store.store_flags(fid, [newest], frozenset({"\\Deleted"}), FlagMode.ADD)
        await store.summary(fid)  # the cache is up to date just before the expunge
        await store.expunge(fid, [newest])

    await store.summary(fid)
    highest = folder.highest_modseq
    print(f"\n{account}: {last} messages")

    def summary() -> Awaitable[Any]:
        return store.summary(fid)

    cases: list[tuple[str, Callable[[], Awaitable[Any]], Prepare]] = [
        ("summary() cold (empty cache)", cold_summary, None),
        ("summary() warm, unchanged", summary, None),
        ("summary() after 1 delivery", summary, deliver_one),
        ("summary() after 1 expunge", summary, expunge_one),
        ("list_messages() all", lambda: store.list_messages(fid), None),
        ("iter_headers() all + Subject test", lambda: header_search(store, fid), None),
        ("list_messages(uid_from=uidnext-10)", lambda: store.list_messages(fid, last - 9), None),
        ("get_header(last)", lambda: store.get_header(fid, last), None),
        ("changed_since(highest-10)", lambda: store.changed_since(fid, highest - 10), None),
    ]
    for name, action, prepare in cases:
        best, median, cpu, result = await timed(repeat, action, prepare)
        size = len(result.uids) if name.startswith("summary") else result
        if isinstance(result, list | bytes):
            size = len(result)
        print(
            f"  {name:<36} best {best:7.1f} ms  median {median:7.1f} ms  "
            f"cpu {cpu:7.1f} ms  ({size})"
        )


def calibrate() -> float:
    """CPU time of a fixed pure-Python loop: how fast this machine runs Python right now."""
    table = {n: n for n in range(1000)}
    started = time.process_time()
    for n in range(1_000_000):
        table.get(n % 1000)
    return (time.process_time() - started) * 1000


async def run(args: argparse.Namespace, folder: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{folder / 'bench.db'}", fsync=False)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    keyring = KeyRing({"bench": secrets.token_bytes(32)}, active_key="bench")

    def fresh() -> SqlMailboxStore:
        return SqlMailboxStore(
            engine,
            FileBlobStore(folder / "blobs", keyring, fsync=False),
            ChangeHub(),
            inline=InlineBlobs(keyring, 64 * 1024),
            keyring=keyring,
        )

    store = fresh()
    for account in (BIG, SMALL):
        await store.create_account(account)
    seconds = await build(store, BIG, args.messages, args.concurrency)
    stats = store.group_commit_stats
    per_commit = stats.requests / max(stats.batches, 1)
    print(
        f"built {args.messages} messages with deliver() in {seconds:.1f} s "
        f"({args.messages / seconds:.0f}/s, {per_commit:.1f} per commit)"
    )
    await build(store, SMALL, args.small, args.concurrency)
    for account in (BIG, SMALL):
        found = await store.get_folder(account, "INBOX")
        assert found is not None
        every_third = list(range(1, found.uidnext, 3))
        await store.store_flags(found.id, every_third, frozenset({"\\Seen"}), FlagMode.ADD)
    print(f"load average before measuring: {os.getloadavg()} on {os.cpu_count()} CPUs")
    print(f"calibration: 10^6 dict lookups in {calibrate():.0f} ms of CPU")
    for account in (BIG, SMALL):
        await measure(store, fresh, account, args.repeat)
    await store.close()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mss-bench-") as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
