"""Resolve an address to what the directory knows of it (a ``Party`` for the policy)."""

from __future__ import annotations

from directory.interfaces import Directory
from directory.models import DomainKind
from mss.policy import Party


async def resolve(directory: Directory, address: str) -> Party:
    address = normalise_address(address)
    domain = await directory.get_domain(address.rpartition("@")[2])
    if domain is None:
        return Party(address)
    if domain.kind is DomainKind.PATIENT:
        return Party(address, domain, patient=await directory.get_patient(address))
    return Party(address, domain, mailbox=await directory.get_mailbox(address))


def normalise_address(address: str) -> str:
    """Addresses are case-insensitive here: every BAL and INS address is stored lower-case."""
    return address.strip().lower()
