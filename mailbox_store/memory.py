"""The mailbox store in memory, for tests and the demo: the same behaviour as ``SqlMailboxStore``.

Every method mutates its state without awaiting in between, so the event loop makes each one atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from mailbox_store.blobs import MemoryBlobStore
from mailbox_store.errors import (
    FolderExists,
    StorageUnavailable,
    StoreError,
    UnknownAccount,
    UnknownFolder,
    UnknownMessage,
)
from mailbox_store.logic import (
    DELETED,
    FIRST_MODSEQ,
    FIRST_UID,
    after_store,
    check_flags,
    flag_changes,
    internal_date_or_now,
    make_uidvalidity,
)
from mailbox_store.models import (
    DEFAULT_FOLDERS,
    Change,
    ChangeKind,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    MessageRecord,
    SpecialUse,
)
from mailbox_store.notify import ChangeHub, ChangeSubscription


@dataclass
class _FolderState:
    folder: Folder
    messages: dict[int, MessageRecord] = field(default_factory=dict)

    def bump(self, uids: int = 0) -> tuple[int, int]:
        """Advance MODSEQ (and UIDNEXT by ``uids``); the first new UID and the new MODSEQ."""
        uid, modseq = self.folder.uidnext, self.folder.highest_modseq + 1
        self.folder = replace(self.folder, uidnext=uid + uids, highest_modseq=modseq)
        return uid, modseq


class MemoryMailboxStore:
    def __init__(self, hub: ChangeHub | None = None) -> None:
        self._hub = hub if hub is not None else ChangeHub()
        self._blobs = MemoryBlobStore()
        self._accounts: dict[str, dict[str, _FolderState]] = {}
        self._folders: dict[int, _FolderState] = {}
        self._last_folder_id = 0
        self._closed = False

    async def create_account(self, account: str) -> None:
        folders = self._accounts.setdefault(account, {})
        for name, special_use in DEFAULT_FOLDERS:
            if name not in folders:
                self._add_folder(account, name, special_use)

    async def list_folders(self, account: str) -> list[Folder]:
        return [state.folder for state in self._account(account).values()]

    async def get_folder(self, account: str, name: str) -> Folder | None:
        state = self._accounts.get(account, {}).get(name)
        return None if state is None else state.folder

    async def create_folder(
        self, account: str, name: str, special_use: SpecialUse | None = None
    ) -> Folder:
        if name in self._account(account):
            raise FolderExists(f"{account}: {name}")
        return self._add_folder(account, name, special_use)

    async def deliver(
        self, body: bytes, targets: Sequence[Delivery], internal_date: datetime | None = None
    ) -> list[Delivered | StoreError]:
        if not targets:
            return []
        for target in targets:
            check_flags(target.flags)
        when = internal_date_or_now(internal_date)
        blob_id = await self._blobs.put(body)
        if self._closed:
            raise StorageUnavailable("the mailbox store is closed")
        return [self._file(target, blob_id, len(body), when) for target in targets]

    async def list_messages(
        self, folder_id: int, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageRecord]:
        state = self._folder(folder_id)
        last = uid_to if uid_to is not None else state.folder.uidnext
        return [m for uid, m in sorted(state.messages.items()) if uid_from <= uid <= last]

    async def get_body(self, folder_id: int, uid: int) -> bytes:
        message = self._folder(folder_id).messages.get(uid)
        if message is None:
            raise UnknownMessage(f"folder {folder_id}: no UID {uid}")
        return await self._blobs.get(message.blob_id)

    async def store_flags(
        self, folder_id: int, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> list[MessageRecord]:
        check_flags(flags)
        state = self._folder(folder_id)
        records = [state.messages[uid] for uid in set(uids) if uid in state.messages]
        changes = flag_changes(records, flags, mode)
        if not changes:
            return after_store(records, changes, 0)
        _, modseq = state.bump()
        updated = after_store(records, changes, modseq)
        state.messages.update((r.uid, r) for r in updated)
        self._publish(state, ChangeKind.FLAGS, tuple(sorted(changes)), modseq)
        return updated

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        state = self._folder(folder_id)
        among = state.messages.keys() if uids is None else set(uids) & state.messages.keys()
        gone = sorted(uid for uid in among if DELETED in state.messages[uid].flags)
        if gone:
            for uid in gone:
                del state.messages[uid]
            _, modseq = state.bump()
            self._publish(state, ChangeKind.EXPUNGE, tuple(gone), modseq)
        return gone

    def subscribe(self, account: str) -> ChangeSubscription:
        return self._hub.subscribe(account)

    async def close(self) -> None:
        self._closed = True

    def _account(self, account: str) -> dict[str, _FolderState]:
        try:
            return self._accounts[account]
        except KeyError:
            raise UnknownAccount(account) from None

    def _folder(self, folder_id: int) -> _FolderState:
        try:
            return self._folders[folder_id]
        except KeyError:
            raise UnknownFolder(f"folder {folder_id}") from None

    def _add_folder(self, account: str, name: str, special_use: SpecialUse | None) -> Folder:
        self._last_folder_id += 1
        folder_id = self._last_folder_id
        uidvalidity = make_uidvalidity(folder_id, datetime.now(UTC))
        folder = Folder(folder_id, account, name, special_use, uidvalidity, FIRST_UID, FIRST_MODSEQ)
        state = _FolderState(folder)
        self._accounts[account][name] = state
        self._folders[folder_id] = state
        self._publish(state, ChangeKind.FOLDERS, (), 0)
        return folder

    def _file(
        self, target: Delivery, blob_id: str, size: int, when: datetime
    ) -> Delivered | StoreError:
        folders = self._accounts.get(target.account)
        if folders is None:
            return UnknownAccount(target.account)
        state = folders.get(target.folder)
        if state is None:
            return UnknownFolder(f"{target.account}: {target.folder}")
        uid, modseq = state.bump(uids=1)
        state.messages[uid] = MessageRecord(
            state.folder.id, uid, modseq, target.flags, when, size, blob_id
        )
        self._publish(state, ChangeKind.EXISTS, (uid,), modseq)
        folder = state.folder
        return Delivered(target.account, folder.id, folder.uidvalidity, uid)

    def _publish(
        self, state: _FolderState, kind: ChangeKind, uids: tuple[int, ...], modseq: int
    ) -> None:
        self._hub.publish(Change(state.folder.account, state.folder.id, kind, uids, modseq))
