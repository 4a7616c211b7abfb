"""A server start on an up-to-date database does not load Alembic (issue 3: ~11 MB of resident
memory), yet every older database is still brought to the head of the one history."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mss.schema import METADATA, alembic_config, head_revision, upgrade

ROOT = Path(__file__).resolve().parents[2]


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for metadata in METADATA:
            await conn.run_sync(metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


async def _version(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return set(rows.scalars())


def test_head_read_from_the_files_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert head_revision() == script.get_current_head()


async def test_an_older_database_is_still_upgraded(sql_engine: AsyncEngine) -> None:
    await _reset(sql_engine)
    await upgrade(sql_engine, "0009")
    assert await _version(sql_engine) == {"0009"}
    await upgrade(sql_engine)  # not at head: Alembic runs the rest
    assert await _version(sql_engine) == {head_revision()}
    await upgrade(sql_engine)  # at head: nothing to do
    assert await _version(sql_engine) == {head_revision()}
    await _reset(sql_engine)


def test_starting_on_an_up_to_date_database_does_not_import_alembic(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from mss.db import make_engine
        from mss.schema import upgrade

        async def main() -> None:
            engine = make_engine("sqlite+aiosqlite:///{tmp_path / "mss.db"}", fsync=False)
            await upgrade(engine)
            await engine.dispose()

        asyncio.run(main())
        print("alembic" in sys.modules)
        """
    )

    def run() -> str:
        done = subprocess.run(  # a fresh interpreter: this one has Alembic loaded already
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert run() == "True"  # an empty database: migrated by Alembic
    assert run() == "False"  # the next start: at head, Alembic not even imported
