"""The cost of one background build of a big folder's SEARCH columns (``mss.imap.search_warmer``):
CPU, and how long it holds the event loop (issue 3: it must not stall other sessions).

    .venv/bin/python bench/search_warm.py /tmp/<you>-bench          # a copy of a bench/imap.py dir

On the operator of a ``bench/imap.py --dir`` folder (its ``Bench<N>`` mailbox; the saved columns
of the database are DELETED first: use a copy), while a ticker task sleeps 1 ms in a loop:

- the loop gaps the ticker sees (wall: on a loaded machine they include the scheduler's
  preemption of a busy process, hence also a baseline of 4 s with nothing to do),
- each step the build takes on the event loop (between two awaits), in CPU time of the
  loop's thread: the figure that says how long a session can wait behind it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCTOR_RPPS = "10001234567"


class Timed:
    """Awaits a coroutine, timing each of its steps (CPU of this thread, wall)."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.steps: list[tuple[float, float]] = []

    def __await__(self) -> Generator[Any, Any, Any]:
        value: Any = None
        error: BaseException | None = None
        while True:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                sent = self.coro.throw(error) if error is not None else self.coro.send(value)
            except StopIteration as stop:
                self.steps.append((time.thread_time() - cpu, time.perf_counter() - wall))
                return stop.value
            self.steps.append((time.thread_time() - cpu, time.perf_counter() - wall))
            try:
                value, error = (yield sent), None
            except BaseException as caught:  # handed to the coroutine
                error = caught


def spread(values: list[float]) -> str:
    values = sorted(values)

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(len(values) * q))] * 1000

    return f"n={len(values)} p50 {at(0.5):.2f} ms, p99 {at(0.99):.1f} ms, max {at(1):.1f} ms"


async def gaps_while(work: asyncio.Future[Any] | None, seconds: float = 0.0) -> list[float]:
    gaps: list[float] = []
    end = time.perf_counter() + seconds
    last = time.perf_counter()
    while (work is not None and not work.done()) or (work is None and last < end):
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last - 0.001)
        last = now
    return gaps


async def main(folder: Path) -> None:
    from sqlalchemy import delete

    from config import load_settings
    from mailbox_store.tables import search_snapshots
    from mss import demo
    from mss.app import open_operator
    from mss.imap.search_warmer import SearchWarmer

    settings = load_settings(folder / demo.CONFIG)
    manifest = json.loads((folder / demo.MANIFEST).read_text())
    doctor = next(a for a in manifest["accounts"] if a.get("rpps") == DOCTOR_RPPS)["address"]
    async with open_operator(settings) as operator:
        names = [f.name for f in await operator.store.list_folders(doctor)]
        big = max((n for n in names if n.startswith("Bench")), key=lambda n: int(n[5:]))
        found = await operator.store.get_folder(doctor, big)
        assert found is not None
        async with operator.engine.begin() as conn:
            await conn.execute(delete(search_snapshots))
        print(f"idle loop, 4 s: gaps {spread(await gaps_while(None, 4.0))}")
        warmer = SearchWarmer(operator.store, settings.imap)
        timed = Timed(warmer.warm(found))
        cpu, wall = time.process_time(), time.perf_counter()
        work = asyncio.ensure_future(timed)
        gaps = await gaps_while(work)
        await work
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"build of {big} ({warmer.stats.headers} headers, {warmer.stats.saves} columns "
            f"saved): {wall:.2f} s wall, {cpu:.2f} s CPU (process)"
        )
        print(f"loop gaps during the build: {spread(gaps)}")
        print(f"build steps on the loop, CPU: {spread([c for c, _ in timed.steps])}")
        print(f"build steps on the loop, wall: {spread([w for _, w in timed.steps])}")


if __name__ == "__main__":
    uvloop.run(main(Path(sys.argv[1])))
