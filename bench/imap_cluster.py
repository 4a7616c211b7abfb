"""Cross-node IMAP IDLE wake-ups: two operator nodes on one PostgreSQL database.

    .venv/bin/python bench/imap_cluster.py --database postgresql+asyncpg://mss:mss@127.0.0.1/mss_x
    .venv/bin/python bench/imap_cluster.py --database URL --deliveries 200
    .venv/bin/python bench/imap_cluster.py --database URL --hub 100000   # the hubs alone

THE DATABASE IS EMPTIED FIRST (``DROP SCHEMA public CASCADE``): give one of its own.

How: two child processes (``bench/imap_cluster.py _serve DIR URL``) each run the operator as
``mss serve`` does (uvloop, the demo's configuration and PKI, ``database.url`` = URL), sharing
the demo folder's keys, not its database file. A client logs in to node A over IMAPS, SELECTs
INBOX and IDLEs; a professional submits a message over SMTP to node B; the figure is the time
from B's ``250`` to ``* n EXISTS`` on A (the change travels through PostgreSQL ``NOTIFY``, then A
reads the new UIDs). The same measured with the submission to A itself is the baseline: the
difference is the cost of crossing nodes. CPU seconds of both nodes are printed alongside, and
the load average, since the machine may be shared. ``--hub N`` measures the hubs alone (no
database content touched): N changes published on one, received by the other's subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.imap import DOCTOR_RPPS, NURSE_RPPS, Imap, figure, ms, percentile  # noqa: E402


async def serve(folder: Path, url: str, populate: bool) -> None:
    from config import load_settings
    from mss import demo
    from mss.app import serving

    settings = load_settings(folder / demo.CONFIG)
    cheap = {"argon2_time_cost": 1, "argon2_memory_kib": 8}
    settings = settings.model_copy(
        update={
            "directory": settings.directory.model_copy(update=cheap),
            "database": settings.database.model_copy(update={"url": url}),
        }
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with serving(settings) as operator:
        if populate:
            await demo.populate(operator, folder)
        ports = {name: listener.port for name, listener in operator.listeners.items()}
        print(json.dumps({"ready": True, "pid": os.getpid(), "ports": ports}), flush=True)
        await stop.wait()


class Node:
    def __init__(self, folder: Path, url: str, populate: bool) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "_serve", str(folder), url, "1" if populate else "0"],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("a node did not start")
        self.ports: dict[str, int] = json.loads(line)["ports"]

    def cpu(self) -> float:
        """CPU seconds (user + system) of the node so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


async def reset(url: str) -> None:
    import asyncpg

    from mailbox_store.notify_pg import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def idle_latencies(
    folder: Path, accounts: dict[str, Any], imap_port: int, smtp_port: int, deliveries: int
) -> list[float]:
    import ssl

    import aiosmtplib

    context = ssl.create_default_context(cafile=str(folder / "pki" / "ca.pem"))
    reader, sender = accounts[DOCTOR_RPPS], accounts[NURSE_RPPS]
    client = await (await Imap.connect(imap_port, context)).login(reader)
    untagged = await client.ok("SELECT INBOX")
    exists = int(next(u.split()[1] for u in untagged if u.endswith(b" EXISTS\r\n")))
    smtp = aiosmtplib.SMTP(
        hostname="localhost", port=smtp_port, tls_context=context, start_tls=True
    )
    await smtp.connect()
    await smtp.login(sender["address"], sender["password"])
    latencies = []
    for n in range(deliveries):
        tag = client.send("IDLE")
        assert (await client.response()).startswith(b"+")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = sender["address"], reader["address"], f"C{n}"
        mail.set_content("Bonjour.\n")
        watcher = asyncio.ensure_future(_exists(client))
        await smtp.send_message(mail)
        accepted = time.perf_counter()
        arrived, line = await asyncio.wait_for(watcher, 30)
        exists += 1
        assert int(line.split()[1]) == exists, line
        latencies.append(max(0.0, arrived - accepted))
        client.writer.write(b"DONE\r\n")
        while not (await client.response()).startswith(tag + b" "):
            pass
    await smtp.quit()
    await client.close()
    return latencies


async def _exists(client: Imap) -> tuple[float, bytes]:
    while not (line := await client.response()).endswith(b" EXISTS\r\n"):
        pass
    return time.perf_counter(), line


async def hub_throughput(url: str, changes: int, batch: int = 128) -> None:
    """Two hubs in this process: changes/s from one node's ``publish`` to the other's
    subscriber, in bursts of ``batch`` (a group commit's worth), and the CPU it costs."""
    from mailbox_store.models import Change, ChangeKind
    from mailbox_store.notify_pg import PgChangeHub, asyncpg_dsn

    # A's subscription holds them all (a full one drops the oldest: a resync, not a loss)
    a = PgChangeHub(asyncpg_dsn(url), queue_size=changes + 16)
    b = PgChangeHub(asyncpg_dsn(url))
    for hub in (a, b):
        await hub.start()
        await asyncio.wait_for(hub.connected.wait(), 10)
    account = "dr.martin@hopital-demo.mssante.fr"
    subscription = a.subscribe(account)
    received = 0

    async def drain() -> None:
        nonlocal received
        async for change in subscription:
            if change.folder_id:
                received += 1
                if received == changes:
                    return

    reader = asyncio.ensure_future(drain())
    cpu, started = time.process_time(), time.perf_counter()
    for first in range(1, changes + 1, batch):
        for uid in range(first, min(first + batch, changes + 1)):
            b.publish(Change(account, 1, ChangeKind.EXISTS, (uid,), uid))
        await asyncio.sleep(0)
    await asyncio.wait_for(reader, 120)
    took, used = time.perf_counter() - started, time.process_time() - cpu
    figure(f"hub: {changes} changes B -> A, bursts of {batch}", f"{changes / took:8.0f} /s")
    figure("  CPU of both hubs (this process) per change", f"{used / changes * 1e6:8.1f} us")
    subscription.close()
    for hub in (a, b):
        await hub.close()


def report(name: str, values: list[float]) -> None:
    figure(
        f"{name} ({len(values)}): p50 / p99 / max",
        f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))} / {ms(max(values))}",
    )


async def main(args: argparse.Namespace) -> None:
    from mss import demo

    if args.hub:
        print(f"load {_load()}")
        await hub_throughput(args.database, args.hub)
        return
    await reset(args.database)
    folder = Path(tempfile.mkdtemp(prefix="imapcluster-"))
    demo.prepare(folder, port_base=0)
    accounts = {
        a["rpps"]: a for a in json.loads((folder / demo.ACCOUNTS).read_text()) if a.get("rpps")
    }
    a = Node(folder, args.database, populate=True)
    b = Node(folder, args.database, populate=False)
    try:
        print(f"IMAP cluster: 2 nodes on {args.database.rsplit('@', 1)[-1]}, load {_load()}")
        cpu = (a.cpu(), b.cpu())
        cross = await idle_latencies(
            folder, accounts, a.ports["imaps"], b.ports["submission"], args.deliveries
        )
        used = (a.cpu() - cpu[0], b.cpu() - cpu[1])
        report("SMTP 250 on B -> * n EXISTS in IDLE on A", cross)
        figure("  CPU of node A / node B", f"{used[0]:6.2f} s / {used[1]:.2f} s")
        same = await idle_latencies(
            folder, accounts, a.ports["imaps"], a.ports["submission"], args.deliveries
        )
        report("SMTP 250 on A -> * n EXISTS in IDLE on A (baseline)", same)
        print(f"load after: {_load()}")
    finally:
        a.stop()
        b.stop()


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="postgresql+asyncpg URL (emptied!)")
    parser.add_argument("--deliveries", type=int, default=50, help="latency samples per figure")
    parser.add_argument("--hub", type=int, default=0, help="only the hubs: this many changes")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        logging.basicConfig(level=logging.WARNING)
        uvloop.run(serve(Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"))
    else:
        uvloop.run(main(parse()))
