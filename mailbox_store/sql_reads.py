"""Lean reads of the SQL store for IMAP over large folders: message lists, SELECT summaries,
header sections.

A folder of 100,000 messages is read as plain tuples, not ORM rows: dates are parsed with
``datetime.fromisoformat`` on SQLite (the text SQLAlchemy stores) rather than by the generic
type processor, flag texts are decoded once per distinct value, and the UIDs and flags a SELECT
summary is built from come back as two aggregated values (``group_concat`` / ``array_agg``)
instead of 100,000 rows.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, select, type_coerce
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store.dialect import is_sqlite
from mailbox_store.logic import in_zone
from mailbox_store.models import MessageRecord
from mailbox_store.tables import headers, inline_blobs, messages

_COLUMNS = (
    messages.c.folder_id,
    messages.c.uid,
    messages.c.modseq,
    messages.c.flags,
    messages.c.size,
    messages.c.blob_id,
)


def message_query(conn: AsyncConnection | AsyncEngine) -> Select[Any]:
    """Every column of ``mbx_messages``, the date as stored on SQLite (parsed by ``records``)."""
    date: ColumnElement[Any] = messages.c.internal_date
    if is_sqlite(conn):
        date = type_coerce(messages.c.internal_date, String)
    return select(*_COLUMNS, date, messages.c.internal_zone)


async def fetch(conn: AsyncConnection, statement: Select[Any]) -> Sequence[Any]:
    """The rows of ``statement`` as plain tuples. On SQLite they come straight from the driver:
    SQLAlchemy's result rows cost more than SQLite itself over 100,000 messages."""
    if not is_sqlite(conn):
        found: Sequence[Any] = (await conn.execute(statement)).all()
        return found
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    params = [values[name] for name in compiled.positiontup or ()]
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    rows: Sequence[Any] = await driver.execute_fetchall(str(compiled), params)
    return rows


def records(rows: Sequence[Any]) -> list[MessageRecord]:
    """``MessageRecord``s from rows of ``message_query``."""
    flags_of: dict[str, frozenset[str]] = {}
    found = []
    for folder_id, uid, modseq, text, size, blob_id, date, minutes in rows:
        flags = flags_of.get(text)
        if flags is None:
            flags = flags_of[text] = frozenset(text.split())
        if isinstance(date, str):  # SQLite: UTC without an offset; faster than .replace()
            date = datetime.fromisoformat(date + "+00:00")
        if minutes:  # the zone it was given in (RFC 3501 §2.3.3)
            date = in_zone(date, minutes)
        found.append(MessageRecord(folder_id, uid, modseq, flags, date, size, blob_id))
    return found


def uid_flags(folder_id: int, above_modseq: int | None = None) -> Select[Any]:
    """``(uid, flags)`` of the folder's messages in UID order; only those whose MODSEQ is
    greater than ``above_modseq`` when given (for ``summary_cache``)."""
    query = select(messages.c.uid, messages.c.flags).where(messages.c.folder_id == folder_id)
    if above_modseq is not None:
        query = query.where(messages.c.modseq > above_modseq)
    return query.order_by(messages.c.uid)


async def uids_and_flags(conn: AsyncConnection, folder_id: int) -> tuple[array[int], list[str]]:
    """Every UID of the folder ascending and the flag text of each, as two aggregated values
    (``group_concat`` / ``array_agg``) rather than 100,000 rows. Flag texts never contain a
    line feed (flags have no white space), the separator on SQLite."""
    ordered = (
        select(messages.c.uid, messages.c.flags)
        .where(messages.c.folder_id == folder_id)
        .order_by(messages.c.uid)
        .subquery()
    )
    if is_sqlite(conn):
        query = select(func.group_concat(ordered.c.uid), func.group_concat(ordered.c.flags, "\n"))
        uids, texts = (await fetch(conn, query))[0]
        if uids is None:
            return array("q"), []
        return array("q", map(int, uids.split(","))), texts.split("\n")
    by_uid = messages.c.uid
    query = select(
        func.array_agg(aggregate_order_by(by_uid, by_uid)),
        func.array_agg(aggregate_order_by(messages.c.flags, by_uid)),
    ).where(messages.c.folder_id == folder_id)
    uids, texts = (await conn.execute(query)).one()
    return array("q", uids or ()), list(texts or ())


async def header_page(
    conn: AsyncConnection, folder_id: int, after: int, batch: int
) -> list[tuple[int, str, bytes | None]]:
    """``(uid, blob_id, sealed header or None)`` of the next ``batch`` messages above UID
    ``after``, in UID order: the blob ids from the covering ``(folder, uid, blob_id)`` index,
    then the header rows of that UID range in one range read. Two index-ordered scans cost
    about half of a join that looks up the header row of each message. ``conn`` in a read
    transaction (one snapshot for both)."""
    found = await fetch(
        conn,
        select(messages.c.uid, messages.c.blob_id)
        .where(messages.c.folder_id == folder_id, messages.c.uid > after)
        .order_by(messages.c.uid)
        .limit(batch),
    )
    if not found:
        return []
    rows = await fetch(
        conn,
        select(headers.c.uid, headers.c.content).where(
            headers.c.folder_id == folder_id,
            headers.c.uid > after,
            headers.c.uid <= found[-1][0],
        ),
    )
    sealed: dict[int, bytes] = dict(rows)
    return [(uid, blob_id, sealed.get(uid)) for uid, blob_id in found]


def header_query(folder_id: int) -> Select[Any]:
    """``(uid, blob_id, sealed header or None)`` of the folder's messages, in UID order."""
    return (
        select(messages.c.uid, messages.c.blob_id, headers.c.content)
        .select_from(messages)
        .outerjoin(
            headers,
            (headers.c.folder_id == messages.c.folder_id) & (headers.c.uid == messages.c.uid),
        )
        .where(messages.c.folder_id == folder_id)
        .order_by(messages.c.uid)
    )


async def body_rows(
    conn: AsyncConnection, folder_id: int, uids: Sequence[int]
) -> Sequence[tuple[int, str, bytes | None]]:
    """``(uid, blob_id, sealed inline body or None)`` of the folder's messages among ``uids``,
    in UID order (one read for a SEARCH BODY/TEXT batch)."""
    query = (
        select(messages.c.uid, messages.c.blob_id, inline_blobs.c.content)
        .outerjoin(inline_blobs, inline_blobs.c.blob_id == messages.c.blob_id)
        .where(messages.c.folder_id == folder_id, messages.c.uid.in_(uids))
        .order_by(messages.c.uid)
    )
    rows: Sequence[tuple[int, str, bytes | None]] = await fetch(conn, query)
    return rows
