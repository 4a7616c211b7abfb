"""The mailbox store in memory, for tests and the demo: the same behaviour as ``SqlMailboxStore``.

Every method mutates its state without awaiting in between, so the event loop makes each one atomic.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from mailbox_store.blobs import MemoryBlobStore
from mailbox_store.errors import (
    FolderExists,
    FolderProtected,
    HasChildren,
    QuotaExceeded,
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
    INBOX,
    after_store,
    canonical_name,
    check_flags,
    check_folder_name,
    check_quota,
    flag_changes,
    header_section,
    internal_date_or_now,
    is_child,
    is_inbox,
    make_uidvalidity,
    renamed,
    summarize,
    superiors,
)
from mailbox_store.models import (
    DEFAULT_FOLDERS,
    Change,
    ChangeKind,
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
from mailbox_store.notify import ChangeHub, ChangeSubscription
from mailbox_store.tables import encode_flags


@dataclass
class _FolderState:
    folder: Folder
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    recent_uid: int = FIRST_UID
    search_snapshots: dict[str, SearchSnapshot] = field(default_factory=dict)
    # The UIDs ascending, kept while messages are only added (UIDs only grow), rebuilt after a
    # removal: a ranged read (the last 10 messages) costs no sort of the whole folder.
    _order: list[int] | None = None

    def uids(self) -> list[int]:
        if self._order is None:
            self._order = sorted(self.messages)
        return self._order

    def add(self, record: MessageRecord) -> None:
        """A new message: its UID is above every UID of the folder."""
        self.messages[record.uid] = record
        if self._order is not None:
            self._order.append(record.uid)

    def replace_all(self, messages: dict[int, MessageRecord]) -> None:
        self.messages, self._order = messages, None

    def pop(self, uids: Sequence[int]) -> list[MessageRecord]:
        self._order = None
        return [self.messages.pop(uid) for uid in uids]

    def in_range(self, uid_from: int, uid_to: int) -> list[MessageRecord]:
        order = self.uids()
        lo, hi = bisect.bisect_left(order, uid_from), bisect.bisect_right(order, uid_to)
        return [self.messages[uid] for uid in order[lo:hi]]

    def bump(self, uids: int = 0) -> tuple[int, int]:
        """Advance MODSEQ (and UIDNEXT by ``uids``); the first new UID and the new MODSEQ."""
        uid, modseq = self.folder.uidnext, self.folder.highest_modseq + 1
        self.folder = replace(self.folder, uidnext=uid + uids, highest_modseq=modseq)
        return uid, modseq

    def sorted_messages(self) -> list[MessageRecord]:
        return [self.messages[uid] for uid in self.uids()]


@dataclass
class _AccountState:
    folders: dict[str, _FolderState] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)  # names, not folders (RFC 9051 §6.3.7)
    quota: int | None = None
    used_bytes: int = 0
    messages: int = 0

    def add(self, size: int, count: int) -> None:
        self.used_bytes += size
        self.messages += count


class MemoryMailboxStore:
    def __init__(self, hub: ChangeHub | None = None) -> None:
        self._hub = hub if hub is not None else ChangeHub()
        self._blobs = MemoryBlobStore()
        self._headers: dict[str, bytes] = {}  # by blob id
        self._accounts: dict[str, _AccountState] = {}
        self._folders: dict[int, _FolderState] = {}
        self._last_folder_id = 0
        self._closed = False

    async def create_account(self, account: str, quota: int | None = None) -> None:
        check_quota(quota)
        state = self._accounts.setdefault(account, _AccountState())
        if quota is not None:
            state.quota = quota
        for name, special_use in DEFAULT_FOLDERS:
            if name not in state.folders:
                self._add_folder(account, name, special_use)
                state.subscriptions.add(name)  # subscribed once, when created

    async def list_folders(self, account: str) -> list[Folder]:
        return [state.folder for state in self._account(account).folders.values()]

    async def get_folder(self, account: str, name: str) -> Folder | None:
        account_state = self._accounts.get(account)
        state = None if account_state is None else account_state.folders.get(name)
        return None if state is None else state.folder

    async def create_folder(
        self, account: str, name: str, special_use: SpecialUse | None = None
    ) -> Folder:
        check_folder_name(name)
        name = canonical_name(name)
        if name in self._account(account).folders:
            raise FolderExists(f"{account}: {name}")
        return self._add_folder(account, name, special_use)

    async def rename_folder(self, account: str, old: str, new: str) -> Folder:
        old, folders = canonical_name(old), self._account(account).folders
        check_folder_name(new)
        if is_inbox(new):
            raise FolderProtected("cannot rename a folder to INBOX")
        if old not in folders:
            raise UnknownFolder(f"{account}: {old}")
        if new in folders:
            raise FolderExists(f"{account}: {new}")
        if is_child(new, old):
            raise FolderProtected("cannot rename a folder into itself")
        if old == INBOX:
            return self._rename_inbox(account, new)
        moving = [name for name in folders if name == old or is_child(name, old)]
        clash = next((n for n in moving if renamed(n, old, new) in folders), None)
        if clash is not None:
            raise FolderExists(f"{account}: {renamed(clash, old, new)}")
        self._add_superiors(account, new)
        for name in moving:
            state = folders.pop(name)
            state.folder = replace(state.folder, name=renamed(name, old, new))
            folders[state.folder.name] = state
            self._publish(state, ChangeKind.FOLDERS, (), 0)
        return folders[new].folder

    async def delete_folder(self, account: str, name: str) -> None:
        name, account_state = canonical_name(name), self._account(account)
        if name == INBOX:
            raise FolderProtected("INBOX cannot be deleted")
        state = account_state.folders.get(name)
        if state is None:
            raise UnknownFolder(f"{account}: {name}")
        if any(is_child(other, name) for other in account_state.folders):
            raise HasChildren(f"{account}: {name}")
        del account_state.folders[name]
        del self._folders[state.folder.id]
        account_state.add(-sum(m.size for m in state.messages.values()), -len(state.messages))
        self._publish(state, ChangeKind.FOLDERS, (), 0)

    async def add_subscription(self, account: str, name: str) -> None:
        check_folder_name(name)
        self._account(account).subscriptions.add(canonical_name(name))

    async def remove_subscription(self, account: str, name: str) -> None:
        self._account(account).subscriptions.discard(canonical_name(name))

    async def subscriptions(self, account: str) -> list[str]:
        return sorted(self._account(account).subscriptions)

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
        self._headers.setdefault(blob_id, header_section(body))
        return [self._file(target, blob_id, len(body), when) for target in targets]

    async def list_messages(
        self, folder_id: int, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageRecord]:
        state = self._folder(folder_id)
        last = uid_to if uid_to is not None else state.folder.uidnext
        return state.in_range(uid_from, last)

    async def get_body(self, folder_id: int, uid: int) -> bytes:
        return await self._blobs.get(self._message(folder_id, uid).blob_id)

    async def get_header(self, folder_id: int, uid: int) -> bytes:
        return self._headers[self._message(folder_id, uid).blob_id]

    async def iter_bodies(
        self, folder_id: int, uids: Sequence[int], batch: int = 64
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        state = self._folder(folder_id)
        wanted = sorted(set(uids) & state.messages.keys())
        for start in range(0, len(wanted), batch):
            found = [state.messages.get(uid) for uid in wanted[start : start + batch]]
            bodies = [(m.uid, await self._blobs.get(m.blob_id)) for m in found if m is not None]
            if bodies:
                yield bodies

    async def iter_headers(
        self, folder_id: int, uids: Sequence[int] | None = None, batch: int = 1000
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        state = self._folder(folder_id)
        wanted = state.uids() if uids is None else sorted(set(uids) & state.messages.keys())
        for start in range(0, len(wanted), batch):
            found = [state.messages.get(uid) for uid in wanted[start : start + batch]]
            headers = [(m.uid, self._headers[m.blob_id]) for m in found if m is not None]
            if headers:
                yield headers

    async def changed_since(self, folder_id: int, modseq: int) -> list[MessageRecord]:
        state = self._folder(folder_id)
        return [m for m in state.sorted_messages() if m.modseq > modseq]

    async def load_search_snapshots(
        self, folder_id: int, uidvalidity: int, fields: Collection[str]
    ) -> dict[str, SearchSnapshot]:
        state = self._folders.get(folder_id)
        saved = state.search_snapshots if state is not None else {}
        return {
            name: s
            for name in fields
            if (s := saved.get(name)) is not None and s.uidvalidity == uidvalidity
        }

    async def save_search_snapshot(self, folder_id: int, snapshot: SearchSnapshot) -> bool:
        saved = self._folders.get(folder_id)
        if saved is None:
            return False
        known = saved.search_snapshots.get(snapshot.field)
        same = known is not None and known.uidvalidity == snapshot.uidvalidity
        if same and known is not None and known.max_uid >= snapshot.max_uid:
            return False  # never replaced by an older one
        saved.search_snapshots[snapshot.field] = snapshot
        return True

    async def search_snapshot_lag(
        self, fields: Collection[str], min_uid: int
    ) -> list[tuple[Folder, dict[str, int]]]:
        found = []
        for state in self._folders.values():
            folder = state.folder
            if folder.uidnext > min_uid:
                saved = {
                    name: s.max_uid
                    for name in fields
                    if (s := state.search_snapshots.get(name)) is not None
                    and s.uidvalidity == folder.uidvalidity
                }
                found.append((folder, saved))
        return found

    @contextlib.asynccontextmanager
    async def claim_search_build(self, folder_id: int) -> AsyncIterator[bool]:
        yield True  # one process: the indexer's own lock (per folder index) is enough

    async def summary(self, folder_id: int) -> FolderSummary:
        state = self._folder(folder_id)
        texts: dict[frozenset[str], str] = {}  # encoded once per distinct flag set
        rows = (
            (m.uid, texts.get(m.flags) or texts.setdefault(m.flags, encode_flags(m.flags)))
            for m in state.sorted_messages()
        )
        return summarize(state.folder, rows)

    async def claim_recent(self, folder_id: int, until: int | None = None) -> int:
        state = self._folder(folder_id)
        first = state.recent_uid
        state.recent_uid = max(first, state.folder.uidnext if until is None else until)
        return first

    async def usage(self, account: str) -> Usage:
        state = self._account(account)
        return Usage(state.used_bytes, state.messages, state.quota)

    async def set_quota(self, account: str, quota: int | None) -> None:
        check_quota(quota)
        self._account(account).quota = quota

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
            self._remove(state, gone)
        return gone

    async def copy_messages(
        self, folder_id: int, uids: Sequence[int], dest_folder_id: int
    ) -> CopyResult:
        source, dest = self._folder(folder_id), self._folder(dest_folder_id)
        records = [source.messages[uid] for uid in sorted(set(uids)) if uid in source.messages]
        self._charge(dest.folder.account, records)
        return self._copy(records, dest)

    async def move_messages(
        self, folder_id: int, uids: Sequence[int], dest_folder_id: int
    ) -> CopyResult:
        source, dest = self._folder(folder_id), self._folder(dest_folder_id)
        records = [source.messages[uid] for uid in sorted(set(uids)) if uid in source.messages]
        # Within one account the usage does not change: no quota check.
        self._charge(
            dest.folder.account, records, check=source.folder.account != dest.folder.account
        )
        result = self._copy(records, dest)
        if records:
            self._remove(source, [r.uid for r in records])
        return result

    def subscribe(self, account: str) -> ChangeSubscription:
        return self._hub.subscribe(account)

    async def close(self) -> None:
        self._closed = True

    def _account(self, account: str) -> _AccountState:
        try:
            return self._accounts[account]
        except KeyError:
            raise UnknownAccount(account) from None

    def _folder(self, folder_id: int) -> _FolderState:
        try:
            return self._folders[folder_id]
        except KeyError:
            raise UnknownFolder(f"folder {folder_id}") from None

    def _message(self, folder_id: int, uid: int) -> MessageRecord:
        message = self._folder(folder_id).messages.get(uid)
        if message is None:
            raise UnknownMessage(f"folder {folder_id}: no UID {uid}")
        return message

    def _add_folder(self, account: str, name: str, special_use: SpecialUse | None) -> Folder:
        self._last_folder_id += 1
        folder_id = self._last_folder_id
        uidvalidity = make_uidvalidity(folder_id, datetime.now(UTC))
        folder = Folder(folder_id, account, name, special_use, uidvalidity, FIRST_UID, FIRST_MODSEQ)
        state = _FolderState(folder)
        self._accounts[account].folders[name] = state
        self._folders[folder_id] = state
        self._publish(state, ChangeKind.FOLDERS, (), 0)
        return folder

    def _add_superiors(self, account: str, name: str) -> None:
        """Create the missing superior folders of ``name`` (RFC 3501 §6.3.5)."""
        folders = self._accounts[account].folders
        for superior in superiors(name):
            if superior not in folders:
                self._add_folder(account, superior, None)

    def _rename_inbox(self, account: str, new: str) -> Folder:
        """RFC 3501 §6.3.5: INBOX's messages go to a new folder; INBOX stays, empty."""
        self._add_superiors(account, new)
        inbox = self._accounts[account].folders[INBOX]
        self._add_folder(account, new, None)
        target = self._accounts[account].folders[new]
        moved = dict(inbox.messages)
        target.replace_all(
            {uid: replace(m, folder_id=target.folder.id) for uid, m in moved.items()}
        )
        target.folder = replace(
            target.folder,
            uidnext=inbox.folder.uidnext,
            highest_modseq=max(inbox.folder.highest_modseq, target.folder.highest_modseq),
        )
        if moved:
            inbox.replace_all({})
            _, modseq = inbox.bump()
            self._publish(inbox, ChangeKind.EXPUNGE, tuple(sorted(moved)), modseq)
        return target.folder

    def _charge(
        self, account: str, records: Sequence[MessageRecord], *, check: bool = True
    ) -> None:
        """Count ``records`` against ``account``; ``QuotaExceeded`` (nothing counted) if that
        passes its quota and ``check`` is true."""
        state = self._account(account)
        size = sum(r.size for r in records)
        if check and state.quota is not None and state.used_bytes + size > state.quota:
            raise QuotaExceeded(f"{account}: quota of {state.quota} bytes")
        state.add(size, len(records))

    def _copy(self, records: Sequence[MessageRecord], dest: _FolderState) -> CopyResult:
        if not records:
            return CopyResult(dest.folder.uidvalidity, (), ())
        first, modseq = dest.bump(uids=len(records))
        new_uids = tuple(range(first, first + len(records)))
        for record, uid in zip(records, new_uids, strict=True):
            dest.add(replace(record, folder_id=dest.folder.id, uid=uid, modseq=modseq))
        self._publish(dest, ChangeKind.EXISTS, new_uids, modseq)
        return CopyResult(dest.folder.uidvalidity, tuple(r.uid for r in records), new_uids)

    def _remove(self, state: _FolderState, uids: Sequence[int]) -> None:
        """Drop ``uids`` (all present) from the folder, uncount them, publish EXPUNGE."""
        removed = state.pop(uids)
        self._account(state.folder.account).add(-sum(m.size for m in removed), -len(removed))
        _, modseq = state.bump()
        self._publish(state, ChangeKind.EXPUNGE, tuple(uids), modseq)

    def _file(
        self, target: Delivery, blob_id: str, size: int, when: datetime
    ) -> Delivered | StoreError:
        account = self._accounts.get(target.account)
        if account is None:
            return UnknownAccount(target.account)
        state = account.folders.get(target.folder)
        if state is None:
            return UnknownFolder(f"{target.account}: {target.folder}")
        if account.quota is not None and account.used_bytes + size > account.quota:
            return QuotaExceeded(f"{target.account}: quota of {account.quota} bytes")
        account.add(size, 1)
        uid, modseq = state.bump(uids=1)
        state.add(MessageRecord(state.folder.id, uid, modseq, target.flags, when, size, blob_id))
        self._publish(state, ChangeKind.EXISTS, (uid,), modseq)
        folder = state.folder
        return Delivered(target.account, folder.id, folder.uidvalidity, uid)

    def _publish(
        self, state: _FolderState, kind: ChangeKind, uids: tuple[int, ...], modseq: int
    ) -> None:
        self._hub.publish(Change(state.folder.account, state.folder.id, kind, uids, modseq))
