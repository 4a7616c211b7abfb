"""Directory records: frozen dataclasses and the enums of their closed vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DomainKind(StrEnum):
    PROFESSIONAL = "professional"
    PATIENT = "patient"


class BalKind(StrEnum):
    """MSS-BAL-1: nominative, organisational, applicative, practice (treated as ORG)."""

    PER = "PER"
    ORG = "ORG"
    APP = "APP"
    CAB = "CAB"


class BalState(StrEnum):
    """MSS-BAL-4."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class ProfileState(StrEnum):
    """MSS-PAT-1: only ACTIVE and AUTO_CREATED profiles receive."""

    ACTIVE = "active"
    AUTO_CREATED = "auto_created"
    PENDING = "pending"
    OPPOSED = "opposed"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self in (ProfileState.ACTIVE, ProfileState.AUTO_CREATED)


class IdentifierKind(StrEnum):
    RPPS = "RPPS"
    ADELI = "ADELI"


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    kind: DomainKind


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A professional BAL (MSS-BAL-1). Address and kind never change after creation."""

    address: str
    kind: BalKind
    state: BalState = BalState.ACTIVE
    display_name: str = ""
    description: str = ""
    service: str = ""
    responsible: str = ""
    identifier: str | None = None  # RPPS or ADELI number (PER/CAB)
    identifier_kind: IdentifierKind | None = None
    profession_code: str | None = None
    structure_id: str | None = None  # FINESS/SIRET (ORG/APP)
    liste_rouge: bool = False
    pharmacy: bool = False  # MSS-PAT-4
    no_reply: bool = False  # MSS-BAL-3 (APP only)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """A patient mailbox ``<INS>@<patient domain>`` (MSS-INS-1, MSS-PAT-1)."""

    ins: str
    address: str
    state: ProfileState
    given_name: str = ""
    family_name: str = ""
    birth_date: str = ""  # YYYY-MM-DD
    notification_email: str | None = None  # MSS-PAT-7
    notified_at: datetime | None = None
    state_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WhitelistEntry:
    """One ``Domaine`` of the ANS list (MSS-TRUST-1): a domain and one operator MTA cert DN."""

    domain: str
    certificate_dn: str
    description: str = ""
    responsible_contact: str = ""
    support_contact: str = ""
    updated: str = ""


@dataclass(frozen=True, slots=True)
class Whitelist:
    generated_at: datetime | None
    entries: tuple[WhitelistEntry, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class WhitelistStatus:
    generated_at: datetime | None
    loaded_at: datetime | None
    entries: int
    domains: int


@dataclass(frozen=True, slots=True)
class WhitelistRefresh:
    """MSS-TRUST-5: the last refresh of the whitelist from its source, and its outcome."""

    attempted_at: datetime
    succeeded_at: datetime | None = None  # the last time the source gave a usable list
    error: str = ""  # why the last attempt failed ('' when it succeeded)
    entries: int = 0  # entries of the last good copy
    source: str = ""  # URL or file of the last attempt
    source_sha256: str = ""  # hash of the last good copy's bytes
