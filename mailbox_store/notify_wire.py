"""The payloads of cross-node notifications (PostgreSQL ``NOTIFY``): pure encoding, no I/O.

One payload is a compact JSON object::

    {"v":1,"n":"<node>","c":[["<account key>",<folder id>,"e","1:4,9",<modseq>],...],
     "s":["queue"],"r":1}

``n`` is the sending node, so that a node ignores its own echoes. ``c`` holds changes in commit
order: the account as a short keyed digest (``account_key``; the receiver maps it back through
the accounts it has subscribers for), the folder id, the kind (``e`` exists, ``f`` flags, ``x``
expunge, ``d`` folders), the UIDs as an IMAP-style set of ranges and the MODSEQ. ``s`` names
wake-up signals (the outbound queue, the DMP filing jobs), ``r`` asks every subscriber of the
receiving node to resynchronise. No subject, no address, no content: only numbers and digests.

PostgreSQL refuses payloads of 8000 bytes or more, so ``encode`` packs changes into as few
payloads as fit ``limit`` bytes, splitting a change whose UID set alone is too long into several
changes of the same kind and MODSEQ (a consumer treats a change as a hint, never as a count).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from mailbox_store.models import Change, ChangeKind

VERSION = 1
PAYLOAD_LIMIT = 7900  # bytes; PostgreSQL's limit is 8000 (NOTIFY payload "shorter than 8000")
KEY_LENGTH = 16  # hex digits of the account digest (64 bits)

_KIND_CODES = {
    ChangeKind.EXISTS: "e",
    ChangeKind.FLAGS: "f",
    ChangeKind.EXPUNGE: "x",
    ChangeKind.FOLDERS: "d",
}
_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


class PayloadError(ValueError):
    """A payload this node cannot read (another version, garbage): it is ignored."""


@dataclass(frozen=True, slots=True)
class RemoteChange:
    """A change as received: the account is still a digest (``account_key``)."""

    key: str
    folder_id: int
    kind: ChangeKind
    uids: tuple[int, ...]
    modseq: int

    def for_account(self, account: str) -> Change:
        return Change(account, self.folder_id, self.kind, self.uids, self.modseq)


@dataclass(frozen=True, slots=True)
class Message:
    node: str
    changes: tuple[RemoteChange, ...] = ()
    signals: tuple[str, ...] = ()
    resync: bool = False


def account_key(account: str, secret: bytes = b"") -> str:
    """A short digest of ``account`` (keyed with ``secret`` when the deployment has one)."""
    digest = hashlib.blake2b(account.encode(), digest_size=KEY_LENGTH // 2, key=secret[:64])
    return digest.hexdigest()


def encode(
    node: str,
    changes: Iterable[tuple[str, Change]],
    *,
    signals: Sequence[str] = (),
    resync: bool = False,
    limit: int = PAYLOAD_LIMIT,
) -> list[str]:
    """Payloads (each at most ``limit`` bytes) carrying ``(account key, change)`` pairs in order,
    then ``signals`` and ``resync`` in the first one. Empty when there is nothing to say."""
    head = f'{{"v":{VERSION},"n":{_dump(node)}'
    extra = ""
    if signals:
        extra += f',"s":{_dump(sorted(set(signals)))}'
    if resync:
        extra += ',"r":1'
    budget = limit - len(head) - len(extra) - len(',"c":[]}')
    if budget < 64:
        raise ValueError("payload limit too small")
    payloads: list[str] = []
    items: list[str] = []
    size = 0
    for item in _items(changes, budget):
        if items and size + 1 + len(item) > budget:
            payloads.append(_payload(head, items, extra))
            items, size, extra = [], 0, ""
        size += len(item) + (1 if items else 0)
        items.append(item)
    if items or extra:
        payloads.append(_payload(head, items, extra))
    return payloads


def decode(payload: str) -> Message:
    """The message in ``payload``; ``PayloadError`` if it is not one this version reads."""
    try:
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise PayloadError("unknown payload version")
        node = data["n"]
        signals = data.get("s", [])
        if not isinstance(node, str) or not all(isinstance(s, str) for s in signals):
            raise PayloadError("bad node or signals")
        changes = tuple(_change(item) for item in data.get("c", []))
        return Message(node, changes, tuple(signals), bool(data.get("r")))
    except PayloadError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise PayloadError(f"unreadable payload ({type(error).__name__})") from None


def uid_ranges(uids: Iterable[int]) -> str:
    """``1:4,9`` for (1, 2, 3, 4, 9); UIDs sorted and unique first."""
    return ",".join(_range(first, last) for first, last in _runs(sorted(set(uids))))


def parse_ranges(text: str) -> tuple[int, ...]:
    if not text:
        return ()
    uids: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        low, high = int(first), int(last or first)
        if low < 1 or high < low or high - low > 10_000_000:
            raise PayloadError("bad UID range")
        uids.extend(range(low, high + 1))
    return tuple(uids)


def _items(changes: Iterable[tuple[str, Change]], budget: int) -> Iterator[str]:
    for key, change in changes:
        quoted = f'"{key}"' if key.isalnum() and key.isascii() else _dump(key)  # digests: as is
        prefix = f'[{quoted},{int(change.folder_id)},"{_KIND_CODES[change.kind]}",'
        suffix = f",{int(change.modseq)}]"
        room = budget - len(prefix) - len(suffix) - 2
        for ranges in _split_ranges(change.uids, room):  # digits, "," and ":" only
            yield f'{prefix}"{ranges}"{suffix}'


def _split_ranges(uids: tuple[int, ...], room: int) -> Iterator[str]:
    """The UID set as range texts of at most ``room`` characters each (one empty for none)."""
    if len(uids) == 1:  # the common case: one delivery, one flag change
        yield str(int(uids[0]))
        return
    parts = [_range(first, last) for first, last in _runs(sorted(set(uids)))]
    chunk: list[str] = []
    size = 0
    for part in parts:
        if chunk and size + 1 + len(part) > room:
            yield ",".join(chunk)
            chunk, size = [], 0
        size += len(part) + (1 if chunk else 0)
        chunk.append(part)
    if chunk or not parts:
        yield ",".join(chunk)


def _runs(uids: list[int]) -> Iterator[tuple[int, int]]:
    if not uids:
        return
    first = last = uids[0]
    for uid in uids[1:]:
        if uid == last + 1:
            last = uid
            continue
        yield first, last
        first = last = uid
    yield first, last


def _range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}:{last}"


def _change(item: object) -> RemoteChange:
    if not isinstance(item, list) or len(item) != 5:
        raise PayloadError("bad change")
    key, folder_id, code, ranges, modseq = item
    if not isinstance(key, str) or not isinstance(ranges, str) or code not in _KINDS:
        raise PayloadError("bad change")
    if not isinstance(folder_id, int) or not isinstance(modseq, int):
        raise PayloadError("bad change")
    return RemoteChange(key, folder_id, _KINDS[code], parse_ranges(ranges), modseq)


def _payload(head: str, items: list[str], extra: str) -> str:
    return f'{head},"c":[{",".join(items)}]{extra}}}'


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
