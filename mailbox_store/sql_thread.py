"""Write transactions of the SQL store run in the SQLite writer's thread (issue 3: mixed
workload).

Through aiosqlite every statement costs three or four hops between the event loop and the
driver's thread, and under load each hop waits for a busy event loop, all while the
transaction holds SQLite's one write lock: a STORE held it 12-17 ms (measured), of which the
``fsync`` is 6. The group-commit writer already files deliveries with a plain ``sqlite3``
connection in its own thread, one hop per batch (``batch_writers``). ``run_inline`` lets the
store's other write transactions (STORE, EXPUNGE) run there too, written once as ``async``
functions of a connection (the helpers of ``sql_rows``): given a ``ThreadConnection``, whose
``execute`` returns at once, such a function never suspends and is simply driven to its end in
that thread, one hop and one ``fsync`` per transaction. (Running the transactions queued
meanwhile together, one SAVEPOINT each and one commit, was tried: STORE and EXPUNGE got faster,
APPEND and SELECT slower, the batches holding the GIL longer; measured worse overall.)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Executable
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
WriteBody = Callable[[AsyncConnection], Coroutine[Any, Any, T]]


class ThreadConnection:
    """What the store's transaction bodies use of an ``AsyncConnection``, over a plain one."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)


def run_inline(body: WriteBody[T], conn: Connection) -> T:
    """``body(conn)`` to its end, in this thread, without an event loop: it must await nothing
    but the connection's ``execute`` (``RuntimeError`` otherwise, and nothing is committed
    since the caller's transaction then fails)."""
    coroutine = body(cast(AsyncConnection, ThreadConnection(conn)))
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("a write transaction body waited for something else than its queries")
