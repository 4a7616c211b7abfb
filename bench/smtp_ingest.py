"""SMTP ingest benchmark: N messages of 10 KB over M concurrent mutual-TLS connections to the MX
listener of a demo operator (embedded default: SQLite, fsync on), as the peer operator.

    .venv/bin/python bench/smtp_ingest.py --messages 4000 --connections 20

The operator runs in its own process (``mss demo``); the clients run here, each connection reused
for its share of messages: by default an MTA-like client that pipelines MAIL, RCPT and DATA
(RFC 2920, as Postfix does), or aiosmtplib (``--client aiosmtplib``, one round trip per
command). A message counts when its DATA got a 250 (stored and committed). Prints accepted
messages/s, latency percentiles (MAIL to the final 250), then checks the count in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
SENDER = "bench@operateur-pair.mssante.fr"


def start_operator(folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    env = {**os.environ, "MSS_LOGGING__LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mss", "demo", "--dir", str(folder), "--port-base", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    manifest = folder / "demo.json"
    deadline = time.monotonic() + 60
    while not manifest.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the operator did not start")
        time.sleep(0.1)
    time.sleep(0.3)
    return process, json.loads(manifest.read_text())


def body(index: int, to: str, size: int) -> bytes:
    head = (
        f"From: <{SENDER}>\r\nTo: <{to}>\r\nSubject: bench {index}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}.{index}@bench>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


async def pipelined_connection(
    port: int, context: ssl.SSLContext, to: str, count: int, size: int, latencies: list[float]
) -> None:
    """An MTA-like client: MAIL, RCPT and DATA sent in one write (RFC 2920), as Postfix does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            if line[3:4] != b"-":
                return line

    await reply()
    writer.write(b"EHLO mx.bench.test\r\n")
    await reply()
    writer.write(b"STARTTLS\r\n")
    await reply()
    await writer.start_tls(context)
    writer.write(b"EHLO mx.bench.test\r\n")
    await reply()
    for index in range(count):
        data = body(index, to, size)
        started = time.perf_counter()
        writer.write(
            f"MAIL FROM:<{SENDER}> SIZE={len(data)}\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode()
        )
        for expected in (b"250", b"250", b"354"):
            if not (await reply()).startswith(expected):
                raise RuntimeError("refused")
        writer.write(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        if not (await reply()).startswith(b"250"):
            raise RuntimeError("refused")
        latencies.append(time.perf_counter() - started)
    writer.write(b"QUIT\r\n")
    await reply()
    writer.close()


async def aiosmtplib_connection(
    port: int, context: ssl.SSLContext, to: str, count: int, size: int, latencies: list[float]
) -> None:
    """A mail-client-like client (aiosmtplib): one round trip per command."""
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        start_tls=False,
        timeout=60,
        local_hostname="mx.bench.test",
    )
    await client.connect()
    await client.starttls(tls_context=context)
    for index in range(count):
        message = body(index, to, size)
        started = time.perf_counter()
        errors, _ = await client.sendmail(SENDER, [to], message)
        if errors:
            raise RuntimeError(f"refused: {errors}")
        latencies.append(time.perf_counter() - started)
    await client.quit()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(options: argparse.Namespace, manifest: dict[str, Any], folder: Path) -> float:
    context = ssl.create_default_context(cafile=str(folder / "pki" / "ca.pem"))
    context.check_hostname = False
    context.load_cert_chain(folder / "pki" / "peer.pem", folder / "pki" / "peer.key")
    port = int(manifest["listeners"]["mx"]["port"])
    to = next(a["address"] for a in manifest["accounts"] if a["kind"] == "PER")
    share = options.messages // options.connections
    latencies: list[float] = []
    connection = pipelined_connection if options.client == "pipelining" else aiosmtplib_connection
    started = time.perf_counter()
    await asyncio.gather(
        *(
            connection(port, context, to, share, options.size, latencies)
            for _ in range(options.connections)
        )
    )
    elapsed = time.perf_counter() - started
    total = share * options.connections
    print(
        f"messages accepted : {total} of {options.size} bytes over {options.connections} "
        f"TLS connections ({options.client} client)"
    )
    print(f"throughput        : {total / elapsed:.0f} messages/s ({elapsed:.2f} s)")
    print(f"latency p50       : {statistics.median(latencies) * 1000:.1f} ms")
    print(f"latency p99       : {percentile(latencies, 0.99) * 1000:.1f} ms")
    return float(total / elapsed)


def stored_count(folder: Path, to: str) -> int:
    import sqlite3

    with sqlite3.connect(folder / "data" / "mss.db") as db:
        row = db.execute(
            "SELECT count(*) FROM mbx_messages m JOIN mbx_folders f ON f.id = m.folder_id "
            "WHERE f.account = ? AND f.name = 'INBOX'",
            (to,),
        ).fetchone()
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument(
        "--client",
        choices=["pipelining", "aiosmtplib"],
        default="pipelining",
        help="pipelining: MAIL/RCPT/DATA in one write, like an MTA (default)",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mss-bench-") as tmp:
        folder = Path(tmp) / "demo"
        process, manifest = start_operator(folder)
        try:
            asyncio.run(run(options, manifest, folder))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        to = next(a["address"] for a in manifest["accounts"] if a["kind"] == "PER")
        print(f"stored in INBOX   : {stored_count(folder, to)}")


if __name__ == "__main__":
    main()
