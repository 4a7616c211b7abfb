"""Checks and normalisation shared by every directory implementation (SQL and memory).

Each function takes a record as a caller gave it and returns it normalised (addresses lower-cased,
datetimes in UTC) or raises the directory error saying which rule it breaks.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from directory.dn import normalise_dn
from directory.errors import InvalidRecord, WhitelistError
from directory.ins import validate_ins
from directory.models import (
    BalKind,
    Domain,
    IdentifierKind,
    Mailbox,
    Patient,
    ProfileState,
    Whitelist,
    WhitelistEntry,
    WhitelistRefresh,
)

_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")
_DOMAIN = re.compile(r"[^@\s]+")
_IDENTIFIERS = {
    IdentifierKind.RPPS: re.compile(r"[0-9]{11}", re.ASCII),
    IdentifierKind.ADELI: re.compile(r"[0-9A-Z]{9}", re.ASCII),
}
_BIRTH_DATE = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2})?", re.ASCII)
MAX_ADDRESS = 320  # RFC 5321: 64 + 1 + 255
MAX_DOMAIN = 255
_PERSONAL_KINDS = (BalKind.PER, BalKind.CAB)
DELEGABLE_KINDS = (BalKind.ORG, BalKind.CAB)  # MSS-BAL-2


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused (the house never uses them)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (datetime.now(UTC))")
    return moment.astimezone(UTC)


def utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


def address(value: str) -> str:
    """A mailbox address, lower-cased; ``InvalidRecord`` when it is not ``local@domain``."""
    normalised = value.strip().lower()
    if len(normalised) > MAX_ADDRESS or not _ADDRESS.fullmatch(normalised):
        raise InvalidRecord(f"an address is local@domain, without spaces, {MAX_ADDRESS} at most")
    return normalised


def domain(record: Domain) -> Domain:
    name = record.name.strip().lower()
    if len(name) > MAX_DOMAIN or not _DOMAIN.fullmatch(name):
        raise InvalidRecord(f"a domain name is one word without '@', {MAX_DOMAIN} at most")
    return dataclasses.replace(record, name=name)


def mailbox(record: Mailbox, now: datetime) -> Mailbox:
    """The BAL to store (MSS-BAL-1), ``created_at`` defaulting to ``now``."""
    if record.no_reply and record.kind is not BalKind.APP:
        raise InvalidRecord("only an APP mailbox may be no-reply (MSS-BAL-3)")
    if record.pharmacy and record.kind not in DELEGABLE_KINDS:
        raise InvalidRecord("only an ORG or CAB mailbox may be a pharmacy (MSS-PAT-4)")
    _check_identifier(record)
    return dataclasses.replace(
        record,
        address=address(record.address),
        created_at=utc(record.created_at or now),
    )


def _check_identifier(record: Mailbox) -> None:
    # MSS-BAL-1: an RPPS or ADELI number for PER/CAB, optional, with its kind.
    if record.identifier is None and record.identifier_kind is None:
        return
    if record.kind not in _PERSONAL_KINDS:
        raise InvalidRecord("only PER and CAB mailboxes carry an RPPS/ADELI identifier")
    if record.identifier is None or record.identifier_kind is None:
        raise InvalidRecord("an identifier and its kind (RPPS or ADELI) go together")
    if not _IDENTIFIERS[record.identifier_kind].fullmatch(record.identifier):
        raise InvalidRecord(f"{record.identifier} is not an {record.identifier_kind} number")


def patient(record: Patient) -> Patient:
    """The patient to store (MSS-INS-1): a valid INS and the address ``<ins>@<domain>``."""
    ins = validate_ins(record.ins)
    normalised = address(record.address)
    local, _, _host = normalised.partition("@")
    if local != ins.lower():
        raise InvalidRecord("a patient address is <INS>@<patient domain> (MSS-INS-1)")
    if not _BIRTH_DATE.fullmatch(record.birth_date):
        raise InvalidRecord("a birth date is written YYYY-MM-DD")
    if record.state is ProfileState.PENDING and record.notified_at is None:
        raise InvalidRecord("a pending profile needs the date of its notification (MSS-PAT-1)")
    return dataclasses.replace(
        record,
        ins=ins,
        address=normalised,
        notified_at=utc_or_none(record.notified_at),
        state_changed_at=utc_or_none(record.state_changed_at),
    )


def changed_state(record: Patient, state: ProfileState, at: datetime) -> Patient:
    """``record`` moved to ``state`` at ``at`` (MSS-PAT-1); entering PENDING restarts the clock."""
    if record.state is state:
        return record
    at = utc(at)
    notified_at = at if state is ProfileState.PENDING else record.notified_at
    return dataclasses.replace(record, state=state, state_changed_at=at, notified_at=notified_at)


def whitelist_entries(whitelist: Whitelist) -> tuple[WhitelistEntry, ...]:
    """The entries to store; an empty list is refused (MSS-TRUST-1)."""
    if not whitelist.entries:
        raise WhitelistError("an empty whitelist is refused: it would cut off every peer")
    return tuple(_entry(entry) for entry in whitelist.entries)


def _entry(entry: WhitelistEntry) -> WhitelistEntry:
    try:
        dn = normalise_dn(entry.certificate_dn)
    except ValueError as exc:
        raise WhitelistError(f"{entry.domain}: bad certificate DN: {exc}") from None
    return dataclasses.replace(entry, domain=entry.domain.strip().lower(), certificate_dn=dn)


def dns_by_domain(entries: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """``(domain, dn)`` pairs grouped into the lookup table of ``whitelisted_dns``."""
    grouped: defaultdict[str, set[str]] = defaultdict(set)
    for name, dn in entries:
        grouped[name].add(dn)
    return {name: frozenset(dns) for name, dns in grouped.items()}


MAX_REFRESH_ERROR = 500
_SHA256 = re.compile(r"(?:[0-9a-f]{64})?")


def whitelist_refresh(refresh: WhitelistRefresh) -> WhitelistRefresh:
    """MSS-TRUST-5: times in UTC, the error clipped to one line, a hex SHA-256 or nothing."""
    if refresh.entries < 0 or not _SHA256.fullmatch(refresh.source_sha256):
        raise InvalidRecord("a whitelist refresh has a count >= 0 and a hex SHA-256")
    error = " ".join(refresh.error.split())[:MAX_REFRESH_ERROR]
    return dataclasses.replace(
        refresh,
        attempted_at=utc(refresh.attempted_at),
        succeeded_at=utc_or_none(refresh.succeeded_at),
        error=error,
    )
