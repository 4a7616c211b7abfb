"""Filing one batch of deliveries inside one transaction: the SQL of group commit.

Synchronous code, run through ``AsyncConnection.run_sync`` so the whole batch costs one hop into
SQLAlchemy's greenlet instead of one per statement. Each target is filed inside its own SAVEPOINT:
a target that fails (unknown account or folder, or a constraint violation in its folder) is rolled
back alone and the rest of the batch goes on. Targets are filed in (account, folder) order, so
several nodes sharing PostgreSQL lock folder rows in the same order and cannot deadlock each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from mailbox_store.errors import (
    QuotaExceeded,
    StorageUnavailable,
    StoreError,
    UnknownAccount,
    UnknownFolder,
)
from mailbox_store.inline import InlineBlobs, store_inline
from mailbox_store.logic import zone_minutes
from mailbox_store.models import Change, ChangeKind, Delivered, Delivery
from mailbox_store.tables import accounts, encode_flags, folders, headers, messages

log = logging.getLogger(__name__)

Outcome = Delivered | StoreError


@dataclass(frozen=True)
class DeliveryRequest:
    """One ``deliver`` call: its blob, its targets, and the future its caller waits on."""

    blob_id: str
    size: int
    targets: tuple[Delivery, ...]
    internal_date: datetime
    future: asyncio.Future[list[Outcome]]
    inline: bytes | None = None  # the plaintext body, when it is to be kept in the database
    header: bytes | None = None  # the sealed header section (None: none kept, read the body)


@dataclass
class FiledBatch:
    """Outcomes per request and target (in the order given), and the changes to publish."""

    outcomes: list[list[Outcome]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


# Built once: the hot path only binds parameters (no statement building nor cache-key work).
_ALLOCATE_UID = (
    update(folders)
    .where(folders.c.account == bindparam("b_account"), folders.c.name == bindparam("b_folder"))
    .values(uidnext=folders.c.uidnext + 1, highest_modseq=folders.c.highest_modseq + 1)
    .returning(folders.c.id, folders.c.uidvalidity, folders.c.uidnext, folders.c.highest_modseq)
)
_INSERT_MESSAGE = insert(messages)
_INSERT_HEADER = insert(headers)
# Count the message against the account, unless that passes its quota (checked in the write
# transaction, so concurrent deliveries cannot both slip under it).
_CHARGE_ACCOUNT = (
    update(accounts)
    .where(
        accounts.c.name == bindparam("b_account"),
        (accounts.c.quota.is_(None))
        | (accounts.c.used_bytes + bindparam("b_size") <= accounts.c.quota),
    )
    .values(
        used_bytes=accounts.c.used_bytes + bindparam("b_size"),
        message_count=accounts.c.message_count + 1,
    )
    .returning(accounts.c.name)
)
_ACCOUNT_EXISTS = select(accounts.c.name).where(accounts.c.name == bindparam("b_account"))


FileOne = Callable[[Connection, DeliveryRequest, Delivery], "tuple[Delivered, Change] | StoreError"]


def file_batch(
    conn: Connection,
    requests: list[DeliveryRequest],
    file_one: FileOne | None = None,
    inline: InlineBlobs | None = None,
) -> FiledBatch:
    """File every target of ``requests`` (each with ``file_one``) after the inline bodies;
    the caller commits."""
    file_one = file_one or _file_in_savepoint
    bodies = [(r.blob_id, r.inline) for r in requests if r.inline is not None]
    if bodies:
        if inline is None:
            raise ValueError("inline bodies given to a writer without inline blob storage")
        store_inline(conn, inline, bodies)
    slots = sorted(
        (target.account, target.folder, i, j)
        for i, request in enumerate(requests)
        for j, target in enumerate(request.targets)
    )
    filed: dict[tuple[int, int], Outcome] = {}
    batch = FiledBatch()
    for _, _, i, j in slots:
        outcome = file_one(conn, requests[i], requests[i].targets[j])
        if isinstance(outcome, StoreError):
            filed[i, j] = outcome
        else:
            filed[i, j], change = outcome
            batch.changes.append(change)
    batch.outcomes = [[filed[i, j] for j in range(len(r.targets))] for i, r in enumerate(requests)]
    return batch


def _file_in_savepoint(
    conn: Connection, request: DeliveryRequest, target: Delivery
) -> tuple[Delivered, Change] | StoreError:
    try:
        with conn.begin_nested():
            return _file(conn, request, target)
    except StoreError as exc:
        return exc
    except (IntegrityError, DataError) as exc:
        # A damaged folder (e.g. a row already at UIDNEXT): this target only. No parameters logged.
        log.error("filing into one folder failed: %s", type(exc.orig).__name__)
        return StorageUnavailable(f"cannot file into {target.account}: {target.folder}")


def _file(conn: Connection, request: DeliveryRequest, target: Delivery) -> tuple[Delivered, Change]:
    """Charge the account (quota), allocate the UID and MODSEQ in one statement, then insert
    the message row. The account row is taken before the folder row, as everywhere."""
    charged = conn.execute(
        _CHARGE_ACCOUNT, {"b_account": target.account, "b_size": request.size}
    ).first()
    if charged is None:
        raise _over_quota_or_missing(conn, target)
    allocated = conn.execute(
        _ALLOCATE_UID, {"b_account": target.account, "b_folder": target.folder}
    )
    row = allocated.one_or_none()
    if row is None:
        raise UnknownFolder(f"{target.account}: {target.folder}")
    uid = row.uidnext - 1
    conn.execute(
        _INSERT_MESSAGE,
        {
            "folder_id": row.id,
            "uid": uid,
            "modseq": row.highest_modseq,
            "flags": encode_flags(target.flags),
            "internal_date": request.internal_date,
            "internal_zone": zone_minutes(request.internal_date),
            "size": request.size,
            "blob_id": request.blob_id,
        },
    )
    if request.header is not None:
        conn.execute(_INSERT_HEADER, {"folder_id": row.id, "uid": uid, "content": request.header})
    delivered = Delivered(target.account, row.id, row.uidvalidity, uid)
    return delivered, Change(target.account, row.id, ChangeKind.EXISTS, (uid,), row.highest_modseq)


def _over_quota_or_missing(conn: Connection, target: Delivery) -> StoreError:
    if conn.execute(_ACCOUNT_EXISTS, {"b_account": target.account}).first() is None:
        return UnknownAccount(target.account)
    return QuotaExceeded(f"{target.account}: over quota")
