"""IMAP subscriptions of the SQL store: names, not folders (RFC 3501 §6.3.6-6.3.7, RFC 9051
§6.3.7-6.3.8, RFC 5258 §3).

A name may be subscribed whether or not a folder of that name exists; DELETE and RENAME of a
folder leave subscriptions as they are. Names are stored as given after ``canonical_name``
(INBOX in capitals). Each function runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mailbox_store.dialect import insert_ignore
from mailbox_store.errors import UnknownAccount
from mailbox_store.sql_rows import account_exists
from mailbox_store.tables import subscriptions


async def add(conn: AsyncConnection, account: str, names: Iterable[str]) -> None:
    """Subscribe ``names`` (already checked and canonical); a name already subscribed stays."""
    rows = [{"account": account, "name": name} for name in names]
    if rows:
        await conn.execute(insert_ignore(conn, subscriptions), rows)


async def remove(conn: AsyncConnection, account: str, name: str) -> None:
    await conn.execute(
        delete(subscriptions).where(
            subscriptions.c.account == account, subscriptions.c.name == name
        )
    )


async def names(conn: AsyncConnection, account: str) -> list[str]:
    """The subscribed names of ``account``, sorted by code point; ``UnknownAccount`` if the
    account does not exist."""
    query = select(subscriptions.c.name).where(subscriptions.c.account == account)
    rows = await conn.execute(query)
    found = sorted(rows.scalars())  # in Python: collations differ between the databases
    if not found and not await account_exists(conn, account):
        raise UnknownAccount(account)
    return found
