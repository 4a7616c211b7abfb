"""Patient conversation grants kept up to date from the professionals' messages.

MSS-PAT-2: the address a patient may answer is the ``Reply-To`` of the professional's message
when it is an MSSanté address, otherwise its ``From``. MSS-PAT-3: a subject of exactly ``[FIN]``
or a header ``X-MSS-MES: FIN`` ends the exchange; a later ordinary message re-opens it.
"""

from __future__ import annotations

from datetime import datetime

from directory.interfaces import Directory
from mss.wire.headers import addresses, header_values


def ends_exchange(message: bytes) -> bool:
    """MSS-PAT-3."""
    subjects = header_values(message, "Subject")
    if any(subject.strip() == "[FIN]" for subject in subjects):
        return True
    return any(value.strip().upper() == "FIN" for value in header_values(message, "X-MSS-MES"))


async def authorised_correspondent(directory: Directory, message: bytes) -> str | None:
    """MSS-PAT-2: Reply-To when it is an MSSanté address, else From."""
    for value in header_values(message, "Reply-To", decode_words=False):
        for address in addresses(value):
            if await is_mssante_address(directory, address):
                return address
    for value in header_values(message, "From", decode_words=False):
        for address in addresses(value):
            return address
    return None


async def is_mssante_address(directory: Directory, address: str) -> bool:
    """An address of the space of trust: a professional domain hosted here, or whitelisted."""
    domain_name = address.rpartition("@")[2].lower()
    domain = await directory.get_domain(domain_name)
    if domain is not None:
        return domain.kind.value == "professional"
    return bool(await directory.whitelisted_dns(domain_name))


async def record_professional_message(
    directory: Directory, patient: str, message: bytes, at: datetime
) -> str | None:
    """Open (or close, on ``[FIN]``) the patient's right to answer; returns the address."""
    correspondent = await authorised_correspondent(directory, message)
    if correspondent is None:
        return None
    await directory.set_grant(patient, correspondent, open_=not ends_exchange(message), at=at)
    return correspondent
