"""Attachments of a stored message, for the DMP bridge: the ``IHE_XDM.ZIP`` archives (MSS-MSG-4)
and any part by its IMAP part number (the patient's "Espace personnel"). Pure, no I/O.

Archives are found by the quick walk of ``mime``; a part by number with the standard library's
parser. A message that cannot be read, or an archive over the size cap, is a ``DocumentError``
(DMP-MDN-1 code 906) and never an unexpected exception.
Names are matched case-insensitively (DMP-XDM-1); file names never reach a log (SEC-IN-3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from dmp_bridge.errors import DocumentError
from mss.dmp.mime import leaves
from mss.wire.headers import header_values, split_message

XDM_NAME = "ihe_xdm.zip"
_MAX_UNDERSCORE_HOPS = 256
_PART_NUMBER = re.compile(r"[1-9][0-9]{0,3}(?:\.[1-9][0-9]{0,3}){0,19}")


@dataclass(frozen=True, slots=True)
class Attachment:
    content: bytes
    content_type: str
    filename: str | None


def may_carry_xdm(message: bytes) -> bool:
    """Whether ``message`` may hold an ``IHE_XDM.ZIP`` (False is certain, True is a maybe).

    This runs on every message before its ``250``: it looks for ``_xdm`` in any case by jumping
    from ``_`` to ``_`` (``bytes.find`` of one byte runs at memchr speed, and base64 has no
    ``_``); past a few hundred underscores it lower-cases the message once instead.
    """
    seen = 0
    position = message.find(b"_")
    while position != -1:
        if message[position + 1 : position + 4].lower() == b"xdm":
            return True
        seen += 1
        if seen > _MAX_UNDERSCORE_HOPS:
            return b"_xdm" in message.lower()
        position = message.find(b"_", position + 1)
    return False


def xdm_archives(message: bytes, max_size: int) -> list[bytes]:
    """The decoded ``IHE_XDM.ZIP`` attachments of ``message``, in order."""
    archives = []
    for leaf in leaves(message):
        name = leaf.filename
        if name is None or name.strip().lower().rsplit("/", 1)[-1] != XDM_NAME:
            continue
        if len(leaf.body) > max_size * 4 // 3 + 4096:  # checked before decoding too
            raise DocumentError(f"an IHE_XDM.ZIP is larger than {max_size} bytes")
        content = leaf.decoded()
        if len(content) > max_size:
            raise DocumentError(f"an IHE_XDM.ZIP is larger than {max_size} bytes")
        archives.append(content)
    return archives


def message_id(message: bytes) -> str | None:
    """The original's Message-ID (for the documents' source), or None; reads the header only."""
    header, _body = split_message(message)
    values = header_values(header, "Message-ID", decode_words=False)
    return " ".join(values[0].split())[:998] or None if values else None


def part_by_number(message: bytes, number: str) -> Attachment:
    """The leaf part ``number`` (RFC 3501 §6.4.5 numbering: ``1``, ``2.1``…), decoded."""
    if not _PART_NUMBER.fullmatch(number):
        raise DocumentError("not an IMAP part number")
    part = _parse(message)
    for index in (int(n) for n in number.split(".")):
        if part.is_multipart():
            children = part.get_payload()
            if not isinstance(children, list) or index > len(children):
                raise DocumentError("the message has no such part")
            child = children[index - 1]
            if not isinstance(child, Message):
                raise DocumentError("the message has no such part")
            part = child
        elif index != 1:
            raise DocumentError("the message has no such part")
    if part.is_multipart():
        raise DocumentError("this part is a container, not an attachment")
    return Attachment(_payload(part), part.get_content_type(), part.get_filename())


def _parse(message: bytes) -> Message:
    try:
        return message_from_bytes(message, policy=compat32)
    except Exception as error:  # the stdlib parser is tolerant; anything else is garbage
        raise DocumentError("the message cannot be parsed") from error


def _payload(part: Message) -> bytes:
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes):
        raise DocumentError("an attachment cannot be decoded")
    return content
