"""Benchmark of the DMP bridge: filing throughput, the post-delivery hook's cost, big CDA memory.

    .venv/bin/python bench/dmp_bridge.py --rounds 10

1. Filing: messages carrying an ``IHE_XDM.ZIP`` of one ANS fixture each (tests/data/cda, with a
   fresh document id per round so that nothing is a duplicate) are filed by ``DocumentFiler``
   into ``SqlDmpStore`` on a temporary SQLite database, fsync on, contents sealed with AES-GCM:
   the work the filing worker does per job (MIME, zip, METADATA.XML, CDA, checks, one write
   transaction per message for its documents, their traces and notifications, DMP-AUD-1), one
   at a time and as many at once as the worker runs; then the worker itself (claim, read the
   stored copy, file, MDN, finish). Prints documents/s and the mean document size.
2. The hook: what filing adds before the SMTP ``250`` — the byte scan on every message and, for a
   message to a patient with an XDM archive, the one durable job row (``SqlFilingJobs.add``).
3. Memory: peak RSS growth (the input included) and peak Python heap (tracemalloc) of reading
   and ``parse_cda`` on a 20 MB structured CDA and a 20 MB CDA whose body is one base64 PDF, each
   in a fresh process (target: under 150 MB).
"""

# ruff: noqa: E402 - the script's folder leaves sys.path first (this file shadows dmp_bridge)
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import tempfile
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from directory.ins import make_ins
from dmp_bridge.access import DmpAccess
from dmp_bridge.cda import parse_cda
from dmp_bridge.store.sql import SqlDmpStore
from dmp_bridge.xdm_build import build_xdm
from mailbox_store.blobs import KeyRing
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import Delivered, Delivery
from mss.db import make_engine
from mss.dmp.attachments import may_carry_xdm
from mss.dmp.bridge import KeyRingSealer
from mss.dmp.filing import DocumentFiler
from mss.dmp.jobs import NewJob, SqlFilingJobs
from mss.dmp.mdn import MdnSender
from mss.dmp.worker import FilingWorker
from mss.schema import upgrade
from tests.protocol.dmp_mail import cda_bytes, xdm_message

CDA = HERE.parent / "tests" / "data" / "cda"

DOCTOR = "dr.martin@hopital.mssante.fr"
MIB = 1024 * 1024


def _fresh(cda: bytes, round_no: int) -> bytes:
    """The CDA with a document id of its own for this round (no de-duplication)."""
    header = parse_cda(cda)
    old = f'root="{header.document_id.root}"'.encode()
    return cda.replace(old, f'root="{header.document_id.root}.{round_no}"'.encode(), 1)


def _messages(rounds: int, first: int = 1, patients: int = 0) -> list[tuple[bytes, str, int]]:
    """Messages of one fixture each; with ``patients``, spread over that many patients."""
    fixtures = sorted(CDA.glob("*.xml"))
    pool = [make_ins(f"1800175{number:06d}") for number in range(patients)]
    out = []
    for round_no in range(first, first + rounds):
        for index, path in enumerate(fixtures):
            cda = _fresh(cda_bytes(path), round_no)
            ins = parse_cda(cda).patient_ins
            if pool:
                new_ins = pool[(round_no * len(fixtures) + index) % len(pool)]
                cda, ins = cda.replace(ins.encode(), new_ins.encode()), new_ins
            message = xdm_message(DOCTOR, f"{ins}@patient.mssante.fr", [build_xdm([cda])])
            out.append((message, ins, len(cda)))
    return out


async def bench_filing(folder: Path, rounds: int, url: str | None) -> None:
    engine = make_engine(url or f"sqlite+aiosqlite:///{folder / 'bench.db'}", fsync=True)
    await upgrade(engine)
    print(f"database: {engine.dialect.name}")
    keyring = KeyRing({"k": os.urandom(32)}, "k")
    store = SqlDmpStore(engine, KeyRingSealer(keyring))
    access = DmpAccess(store)  # as the operator does: traced in the filing's transaction
    filer = DocumentFiler(store, max_xdm_size=50 * MIB, access=access)
    for pass_no, concurrency in enumerate((1, 4)):
        patients = 0 if concurrency == 1 else 4 * concurrency  # the worker runs one patient's
        messages = _messages(rounds, first=1 + pass_no * rounds, patients=patients)  # in order
        gate = asyncio.Semaphore(concurrency)

        async def file(message: bytes, ins: str, gate: asyncio.Semaphore = gate) -> None:
            async with gate:
                outcome = await filer.file_message(message, ins)
            assert outcome is not None
            assert outcome.result == "processed", outcome.result

        start = time.perf_counter()
        await asyncio.gather(*(file(message, ins) for message, ins, _ in messages))
        elapsed = time.perf_counter() - start
        mean_kb = statistics.mean(size for _, _, size in messages) / 1024
        print(
            f"filing, {concurrency} at a time ({patients or 'few'} patients): {len(messages)} "
            f"documents in {elapsed:.2f} s = "
            f"{len(messages) / elapsed:.1f} documents/s (mean CDA {mean_kb:.0f} KB, fsync on)"
        )
    mailboxes = MemoryMailboxStore()  # one for both passes: job rows name its folders
    await bench_worker(engine, filer, mailboxes, rounds, first=1 + 2 * rounds, patients=0)
    await bench_worker(engine, filer, mailboxes, rounds, first=1 + 3 * rounds, patients=16)
    await bench_hook(engine, _messages(1)[0][0])
    await engine.dispose()


async def bench_worker(
    engine: AsyncEngine,
    filer: DocumentFiler,
    mailboxes: MemoryMailboxStore,
    rounds: int,
    first: int,
    patients: int,
) -> None:
    """The whole job: the hook's rows, then the worker claims, reads the copy, files, finishes.
    With few patients (the fixtures'), most jobs wait for the same patient's previous one."""
    jobs = SqlFilingJobs(engine)
    worker = FilingWorker(
        jobs=jobs,
        mailboxes=mailboxes,
        filer=filer,
        mdn=MdnSender(_no_mdn, hostname="mx.bench"),
        poll_interval=1.0,
        concurrency=4,  # the default (DmpSettings.filing_concurrency)
    )
    messages = _messages(rounds, first=first, patients=patients)
    new_jobs = []
    for message, ins, _ in messages:
        account = f"{ins}@patient.mssante.fr"
        await mailboxes.create_account(account)
        [copy] = await mailboxes.deliver(message, [Delivery(account)])
        assert isinstance(copy, Delivered)
        new_jobs.append(NewJob("Q", account, ins, copy.folder_id, copy.uid, DOCTOR))
    done = (await jobs.counts()).get("done", 0)
    await jobs.add(new_jobs)
    start = time.perf_counter()
    while await worker.run_once():
        pass
    elapsed = time.perf_counter() - start
    assert await jobs.counts() == {"done": done + len(messages)}
    print(
        f"filing through the worker (claim, read, file, trace, MDN, finish; "
        f"{patients or 'few'} patients): {len(messages)} "
        f"documents in {elapsed:.2f} s = {len(messages) / elapsed:.1f} documents/s"
    )


async def _no_mdn(recipient: str, message: bytes) -> bool:
    return False


async def bench_hook(engine: AsyncEngine, xdm: bytes) -> None:
    jobs = SqlFilingJobs(engine)
    durations = []
    for uid in range(1, 301):
        job = NewJob("Q", "p@patient.mssante.fr", "279035121518989", 10**6, uid, DOCTOR)
        start = time.perf_counter()
        await jobs.add([job])
        durations.append(time.perf_counter() - start)
    durations.sort()
    p50, p99 = durations[len(durations) // 2], durations[int(len(durations) * 0.99)]
    print(f"hook, XDM to a patient: one job row p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    plain = b"Subject: x\r\n\r\n" + b"y" * 998 * 25 * 1024
    start = time.perf_counter()
    for _ in range(20):
        assert not may_carry_xdm(plain)
    scan = (time.perf_counter() - start) / 20
    print(f"hook, any message: byte scan of a 25 MB message {scan * 1e3:.2f} ms")
    assert may_carry_xdm(xdm)


def _big_structured(size: int) -> bytes:
    base = cda_bytes(CDA / "LDL-SES_2022.01.xml")
    marker = b"</structuredBody>"
    section = (
        b"<component><section><title>Bench</title><text>"
        + b"<paragraph>"
        + b"x" * 1000
        + b"</paragraph>" * 1
        + b"</text></section></component>"
    )
    count = max(1, (size - len(base)) // len(section))
    return base.replace(marker, section * count + marker, 1)


def _big_pdf(size: int) -> bytes:
    base = cda_bytes(CDA / "DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    start = base.index(b'representation="B64"')
    open_end = base.index(b">", start) + 1
    close = base.index(b"</text>", open_end)
    pdf = b"%PDF-1.5\n" + os.urandom(size * 3 // 4)
    return base[:open_end] + base64.b64encode(pdf) + base[close:]


_MEASURE = """
import sys, tracemalloc
from pathlib import Path
from directory.ins import make_ins
from dmp_bridge.access import DmpAccess
from dmp_bridge.cda import parse_cda
from dmp_bridge.store.models import FilingResult
from dmp_bridge.errors import DocumentError
def status(key):  # kB; VmHWM (peak RSS) starts afresh with the new program, ru_maxrss may not
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(key)
before = status("VmRSS")
tracemalloc.start()
data = Path(sys.argv[1]).read_bytes()  # the input counts: it is in memory while parsing
try:
    header = parse_cda(data)
    result = "parsed, body " + header.body.value
except DocumentError as error:
    result = "refused: " + str(error)
peak = tracemalloc.get_traced_memory()[1]
print(f"{(status('VmHWM') - before) / 1024:.0f}|{peak / 1048576:.0f}|{result}")
"""


def bench_memory(folder: Path, size: int) -> None:
    cases = [("structured", _big_structured(size)), ("base64 PDF", _big_pdf(size))]
    for label, data in cases:
        path = folder / f"{label.replace(' ', '_')}.xml"
        path.write_bytes(data)
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(path)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        rss, heap, result = done.stdout.strip().split("|", 2)
        print(
            f"parse_cda {len(data) / MIB:.1f} MB {label}: peak RSS +{rss} MB, "
            f"Python heap peak {heap} MB; {result[:90]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="passes over the 12 fixtures")
    parser.add_argument("--big", type=int, default=20 * MIB, help="size of the big CDA")
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temporary SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench_filing(Path(tmp), args.rounds, args.database))
        bench_memory(Path(tmp), args.big)


if __name__ == "__main__":
    main()
