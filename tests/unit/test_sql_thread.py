"""Write transactions driven in the SQLite writer's thread (``mailbox_store.sql_thread``): a
body awaiting only its queries runs to its end without an event loop; one awaiting anything
else is refused (its transaction then fails), never half run; its own errors come back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mailbox_store.sql_thread import run_inline

metadata = MetaData()
numbers = Table("numbers", metadata, Column("n", Integer, primary_key=True))


def test_a_body_runs_to_its_end_in_the_calling_thread(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    metadata.create_all(engine)

    async def body(conn: AsyncConnection) -> int:
        for n in range(3):
            await conn.execute(insert(numbers).values(n=n))
        return int((await conn.execute(select(func.count()).select_from(numbers))).scalar_one())

    with engine.begin() as conn:
        assert run_inline(body, conn) == 3
    engine.dispose()


def test_a_body_awaiting_something_else_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    metadata.create_all(engine)

    async def body(conn: AsyncConnection) -> None:
        await conn.execute(insert(numbers).values(n=1))
        await asyncio.sleep(0)  # not a query

    with pytest.raises(RuntimeError), engine.begin() as conn:
        run_inline(body, conn)
    with engine.connect() as conn:  # the transaction was rolled back
        assert conn.execute(select(func.count()).select_from(numbers)).scalar_one() == 0
    engine.dispose()


def test_errors_of_the_body_come_back(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")

    async def body(conn: AsyncConnection) -> None:
        raise LookupError("no such folder")

    with pytest.raises(LookupError), engine.begin() as conn:
        run_inline(body, conn)
    engine.dispose()
