"""What rules look at: the session, resolved parties, limits, and the ``Facts`` port for lookups."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from directory.models import Domain, DomainKind, Mailbox, Patient


class Channel(StrEnum):
    MX = "mx"  # another operator, mutual TLS
    SUBMISSION = "submission"  # a professional's client, AUTH
    WEBMAIL = "webmail"  # a patient, through the web application
    INTERNAL = "internal"  # the operator itself (DSN, notifications)


@dataclass(frozen=True, slots=True)
class SessionFacts:
    channel: Channel
    tls: bool = False
    peer_dn: str | None = None  # normalised subject DN of the client certificate
    user: str | None = None  # authenticated login


@dataclass(frozen=True, slots=True)
class Party:
    """An address with what the directory knows of it (nothing, for a remote address)."""

    address: str
    domain: Domain | None = None  # set when the domain is hosted here
    mailbox: Mailbox | None = None
    patient: Patient | None = None

    @property
    def domain_name(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def hosted(self) -> bool:
        return self.domain is not None

    @property
    def is_patient_address(self) -> bool:
        return self.domain is not None and self.domain.kind is DomainKind.PATIENT


@dataclass(frozen=True, slots=True)
class Limits:
    max_recipients: int
    patient_max_size: int


@dataclass(frozen=True, slots=True)
class SenderContext:
    session: SessionFacts
    sender: Party | None  # None: the null reverse-path <>


@dataclass(frozen=True, slots=True)
class RecipientContext:
    session: SessionFacts
    sender: Party | None
    recipient: Party
    accepted_so_far: int
    declared_size: int | None
    limits: Limits


@dataclass(frozen=True, slots=True)
class MessageContext:
    session: SessionFacts
    sender: Party | None
    recipient: Party
    size: int
    bare_line_ending: bool
    limits: Limits


class Facts(Protocol):
    """Lookups rules may make; the directory satisfies it."""

    async def whitelisted_dns(self, domain: str) -> frozenset[str]: ...
    async def may_act_for(self, user: str, address: str) -> bool: ...
    async def has_grant(self, patient: str, correspondent: str) -> bool: ...
