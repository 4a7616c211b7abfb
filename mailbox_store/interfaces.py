"""The mailbox store seam. Consumers type against these Protocols."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from mailbox_store.errors import StoreError
from mailbox_store.models import (
    Change,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    MessageRecord,
    SpecialUse,
)


class BlobStore(Protocol):
    """Content-addressed, encrypted bodies. ``put`` is durable when it returns."""

    async def put(self, data: bytes) -> str: ...
    async def get(self, blob_id: str) -> bytes: ...


class Subscription(Protocol):
    """Changes of one account, in commit order, from the moment of subscribing."""

    def __aiter__(self) -> AsyncIterator[Change]: ...
    def close(self) -> None: ...


class MailboxStore(Protocol):
    async def create_account(self, account: str) -> None:
        """Create the default folders (INBOX, Sent, Drafts, Trash, Junk); idempotent."""
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

    def subscribe(self, account: str) -> Subscription: ...

    async def close(self) -> None: ...
