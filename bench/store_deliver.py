"""Benchmark of ``SqlMailboxStore.deliver`` on a temporary SQLite database, fsync on.

    .venv/bin/python bench/store_deliver.py --messages 2000 --concurrency 20

Each delivery is a distinct random body (one encrypted blob file written, fsync'ed and renamed, its
folder fsync'ed) and one message row committed (group commit, ``PRAGMA synchronous=FULL``). Prints
the throughput, latency percentiles and the mean number of deliveries per commit.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.models import Delivered, Delivery
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import messages, metadata
from mss.db import make_engine


@dataclass(frozen=True)
class Options:
    messages: int
    concurrency: int
    size: int
    accounts: int
    group_commit_max: int
    fsync: bool


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--size", type=int, default=10 * 1024, help="body size in bytes")
    parser.add_argument("--accounts", type=int, default=20, help="recipients, round robin")
    parser.add_argument("--group-commit-max", type=int, default=128)
    parser.add_argument("--no-fsync", action="store_true", help="for comparison only")
    args = parser.parse_args()
    return Options(
        args.messages,
        args.concurrency,
        args.size,
        args.accounts,
        args.group_commit_max,
        not args.no_fsync,
    )


async def run(options: Options, folder: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{folder / 'bench.db'}", fsync=options.fsync)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    keyring = KeyRing({"bench": secrets.token_bytes(32)}, active_key="bench")
    blobs = FileBlobStore(folder / "blobs", keyring, fsync=options.fsync)
    store = SqlMailboxStore(engine, blobs, ChangeHub(), group_commit_max=options.group_commit_max)
    accounts = [f"user{n}@bench.mssante.fr" for n in range(options.accounts)]
    for account in accounts:
        await store.create_account(account)
    bodies = [secrets.token_bytes(options.size) for _ in range(options.messages)]

    latencies: list[float] = []
    next_index = iter(range(options.messages))

    async def worker() -> None:
        for index in next_index:
            target = Delivery(accounts[index % len(accounts)])
            started = time.perf_counter()
            [result] = await store.deliver(bodies[index], [target])
            latencies.append(time.perf_counter() - started)
            assert isinstance(result, Delivered), result

    before = store.group_commit_stats.batches
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(options.concurrency)))
    elapsed = time.perf_counter() - started
    batches = store.group_commit_stats.batches - before
    await store.close()
    async with engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
    await engine.dispose()
    assert stored == options.messages, stored
    report(options, elapsed, latencies, batches)


def report(options: Options, elapsed: float, latencies: list[float], batches: int) -> None:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"SQLite fsync={'on' if options.fsync else 'off'}: {options.messages} deliveries of "
        f"{options.size} bytes, concurrency {options.concurrency}, "
        f"group_commit_max {options.group_commit_max}"
    )
    print(f"  elapsed      {elapsed:.2f} s")
    print(f"  throughput   {options.messages / elapsed:.0f} deliveries/s")
    print(f"  latency p50  {cuts[49] * 1000:.1f} ms")
    print(f"  latency p99  {cuts[98] * 1000:.1f} ms")
    print(f"  latency max  {max(latencies) * 1000:.1f} ms")
    print(f"  commits      {batches} ({options.messages / max(batches, 1):.1f} deliveries each)")


def main() -> None:
    options = parse_options()
    with tempfile.TemporaryDirectory(prefix="mss-bench-") as folder:
        asyncio.run(run(options, Path(folder)))


if __name__ == "__main__":
    main()
