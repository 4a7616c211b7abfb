"""The mailbox store seam. Consumers type against these Protocols."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol

from mailbox_store.errors import StoreError
from mailbox_store.models import (
    Change,
    CopyResult,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    FolderSummary,
    MessageRecord,
    SearchSnapshot,
    SpecialUse,
    Usage,
)


class BlobStore(Protocol):
    """Content-addressed, encrypted bodies. ``put`` is durable when it returns."""

    async def put(self, data: bytes) -> str: ...
    async def get(self, blob_id: str) -> bytes: ...


class Subscription(Protocol):
    """Changes of one account, in commit order, from the moment of subscribing."""

    def __aiter__(self) -> AsyncIterator[Change]: ...
    def close(self) -> None: ...
    def take_overflow(self) -> bool:
        """True (once) if changes were dropped since the last call: re-read the folder."""
        ...

    def __enter__(self) -> Subscription: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class MailboxStore(Protocol):
    async def create_account(self, account: str, quota: int | None = None) -> None:
        """Create the default folders (INBOX, Sent, Drafts, Trash, Junk); idempotent.

        A ``quota`` (bytes) is set even if the account exists; None leaves it as it is (an
        account is created without a limit).
        """
        ...

    async def list_folders(self, account: str) -> list[Folder]: ...
    async def get_folder(self, account: str, name: str) -> Folder | None: ...
    async def create_folder(
        self, account: str, name: str, special_use: SpecialUse | None = None
    ) -> Folder: ...

    async def deliver(
        self, body: bytes, targets: Sequence[Delivery], internal_date: datetime | None = None
    ) -> list[Delivered | StoreError]:
        """File one body into each target. Each target succeeds or fails on its own; a success
        is durable (blob and rows committed) when this returns."""
        ...

    async def list_messages(
        self, folder_id: int, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageRecord]: ...
    async def get_body(self, folder_id: int, uid: int) -> bytes: ...
    async def store_flags(
        self, folder_id: int, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> list[MessageRecord]: ...
    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove messages flagged ``\\Deleted`` (only among ``uids`` when given)."""
        ...

    async def rename_folder(self, account: str, old: str, new: str) -> Folder:
        """RFC 3501 §6.3.5 RENAME, with its children (hierarchy delimiter ``/``); missing
        superiors of ``new`` are created. Renaming INBOX moves its messages into a new folder
        ``new`` and leaves INBOX empty. Other renames keep the id and UIDVALIDITY.
        ``FolderExists``, ``UnknownFolder``, ``FolderProtected``."""
        ...

    async def delete_folder(self, account: str, name: str) -> None:
        """Delete a folder and its messages. INBOX: ``FolderProtected``; a folder with
        children: ``HasChildren``; ``UnknownFolder``."""
        ...

    async def add_subscription(self, account: str, name: str) -> None:
        """Subscribe the NAME ``name`` (RFC 3501 §6.3.6, RFC 9051 §6.3.7), whether or not a
        folder of that name exists; INBOX in any case is ``INBOX``; subscribing twice is not an
        error. A bad name: ``FolderProtected``; ``UnknownAccount``. Folder changes (CREATE,
        RENAME, DELETE) never change subscriptions."""
        ...

    async def remove_subscription(self, account: str, name: str) -> None:
        """Unsubscribe ``name``; a name not subscribed is not an error (RFC 9051 §6.3.8)."""
        ...

    async def subscriptions(self, account: str) -> list[str]:
        """The subscribed names, sorted by code point; the default folders are subscribed
        when ``create_account`` creates them."""
        ...

    async def copy_messages(
        self, folder_id: int, uids: Sequence[int], dest_folder_id: int
    ) -> CopyResult:
        """Copy (RFC 3501 §6.4.7) in one transaction: flags and internal date kept, same blob,
        new UIDs in source order and one new MODSEQ in the destination. ``QuotaExceeded``
        (nothing copied) if the destination account's quota would be passed."""
        ...

    async def move_messages(
        self, folder_id: int, uids: Sequence[int], dest_folder_id: int
    ) -> CopyResult:
        """Copy and remove from the source in one transaction (RFC 6851); publishes EXISTS on
        the destination and EXPUNGE (source UIDs) on the source."""
        ...

    async def get_header(self, folder_id: int, uid: int) -> bytes:
        """The header section (up to and including the blank line), without the body."""
        ...

    def iter_headers(
        self, folder_id: int, uids: Sequence[int] | None = None, batch: int = 1000
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        """Header sections ``(uid, header)`` in UID order, in batches of up to ``batch``;
        UIDs that do not exist are skipped. Use with ``async for`` (``contextlib.aclosing``
        to close it at once when stopping early)."""
        ...

    def iter_bodies(
        self, folder_id: int, uids: Sequence[int], batch: int = 64
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        """Bodies ``(uid, body)`` of ``uids`` in UID order, in batches of up to ``batch`` (one
        read per batch, for SEARCH BODY/TEXT); UIDs that do not exist are skipped."""
        ...

    async def changed_since(self, folder_id: int, modseq: int) -> list[MessageRecord]:
        """Messages whose MODSEQ is greater than ``modseq``, in UID order (RFC 7162)."""
        ...

    async def summary(self, folder_id: int) -> FolderSummary: ...

    async def load_search_snapshots(
        self, folder_id: int, uidvalidity: int, fields: Collection[str]
    ) -> dict[str, SearchSnapshot]:
        """The saved SEARCH index columns ``fields`` of a folder of this UIDVALIDITY (only
        those readable; none without a key ring)."""
        ...

    async def save_search_snapshot(self, folder_id: int, snapshot: SearchSnapshot) -> bool:
        """Keep a SEARCH index column unless one as recent is saved; True if written."""
        ...

    async def search_snapshot_lag(
        self, fields: Collection[str], min_uid: int
    ) -> list[tuple[Folder, dict[str, int]]]:
        """Folders whose ``uidnext`` is above ``min_uid``, each with the ``max_uid`` of its
        saved SEARCH index columns among ``fields`` (of its UIDVALIDITY; a field never saved
        is missing): what the background indexer looks at to find folders to index."""
        ...

    def claim_search_build(self, folder_id: int) -> AbstractAsyncContextManager[bool]:
        """``async with``: True if this node may build the folder's SEARCH index columns now
        (PostgreSQL: a transaction advisory lock per folder, so one node of a cluster does
        it); False if another node is doing it."""
        ...

    async def claim_recent(self, folder_id: int, until: int | None = None) -> int:
        """RFC 3501 \\Recent: the first UID recent for the calling session (UIDs from it up
        to ``until``, by default the folder's UIDNEXT at the call); moves the folder's mark
        there atomically (never back), so a second claim sees none of them recent. A session
        passes the UIDNEXT of what it has seen, so that it never claims a message it does not
        know yet (which would then be recent nowhere)."""
        ...

    async def usage(self, account: str) -> Usage: ...
    async def set_quota(self, account: str, quota: int | None) -> None: ...

    def subscribe(self, account: str) -> Subscription: ...

    async def close(self) -> None: ...
