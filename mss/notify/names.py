"""Who wrote or acted, as the patient may be told (MSS-PAT-5, MSS-PAT-7): a name, never an
address. Names come from our directory (the BAL's display name, else its service) or, for a
professional of another operator, from the display name of the message's ``From:``; a name that
looks like an address, or that nothing gives, becomes "a health professional" when rendered.
"""

from __future__ import annotations

import unicodedata
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import default
from typing import Protocol

from directory.models import Mailbox

MAX_NAME = 80


class Mailboxes(Protocol):
    async def get_mailbox(self, address: str) -> Mailbox | None: ...
    async def list_mailboxes(self) -> list[Mailbox]: ...


async def sender_name(mailboxes: Mailboxes, sender: str, data: bytes) -> str:
    """The name of the sender of a message to a patient ('' when unknown)."""
    mailbox = await mailboxes.get_mailbox(sender.lower()) if sender else None
    if mailbox is not None:
        return clean(mailbox.display_name or mailbox.service)
    return clean(_from_display_name(data))


async def professional_name(mailboxes: Mailboxes, identifier: str | None) -> str:
    """The name of the professional with RPPS/ADELI ``identifier`` (DMP actors), '' if unknown."""
    mailbox = await mailbox_of(mailboxes, identifier)
    return "" if mailbox is None else clean(mailbox.display_name or mailbox.service)


async def mailbox_of(mailboxes: Mailboxes, identifier: str | None) -> Mailbox | None:
    """The nominative BAL of the professional with RPPS/ADELI ``identifier``. The DMP writes RPPS
    with their national prefix ``8`` (``8`` + 11 digits): both forms match."""
    if not identifier:
        return None
    wanted = {identifier, identifier[1:] if identifier.startswith("8") else identifier}
    for mailbox in await mailboxes.list_mailboxes():
        if mailbox.identifier in wanted:
            return mailbox
    return None


def clean(name: str) -> str:
    """One line of printable text, at most ``MAX_NAME`` characters; '' for an address."""
    printable = "".join(c if unicodedata.category(c)[0] not in "CZ" else " " for c in name)
    text = " ".join(printable.split())[:MAX_NAME]
    return "" if "@" in text or "<" in text else text


def _from_display_name(data: bytes) -> str:
    head, _, _ = data.partition(b"\r\n\r\n")
    try:
        field = BytesHeaderParser(policy=default).parsebytes(head + b"\r\n\r\n")["From"]
        addresses: tuple[Address, ...] = field.addresses if field is not None else ()
    except Exception:  # a hostile or broken header is simply not a name
        return ""
    return addresses[0].display_name if len(addresses) == 1 else ""
