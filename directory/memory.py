"""An in-memory ``Directory``: dicts, same behaviour as ``directory.sql`` (tests, one-off tools)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from config.settings import DirectorySettings
from directory import checks
from directory.errors import AlreadyExists, InvalidRecord, NotFound
from directory.ins import validate_ins
from directory.models import (
    BalState,
    Domain,
    Mailbox,
    Patient,
    ProfileState,
    Whitelist,
    WhitelistRefresh,
    WhitelistStatus,
)
from directory.passwords import Passwords


@dataclasses.dataclass
class _Grant:
    open: bool
    changed_at: datetime


class MemoryDirectory:
    """Implements ``directory.interfaces.Directory`` with dicts."""

    def __init__(self, settings: DirectorySettings | None = None) -> None:
        self._passwords = Passwords(settings or DirectorySettings())
        self._domains: dict[str, Domain] = {}
        self._mailboxes: dict[str, Mailbox] = {}
        self._hashes: dict[str, str] = {}
        self._delegates: dict[str, set[str]] = {}
        self._patients: dict[str, Patient] = {}  # by INS
        self._grants: dict[tuple[str, str], _Grant] = {}
        self._whitelist: dict[str, frozenset[str]] = {}
        self._whitelist_status = WhitelistStatus(None, None, 0, 0)
        self._whitelist_refresh: WhitelistRefresh | None = None

    # Hosted domains.
    async def add_domain(self, domain: Domain) -> None:
        domain = checks.domain(domain)
        if domain.name in self._domains:
            raise AlreadyExists(f"domain {domain.name}")
        self._domains[domain.name] = domain

    async def get_domain(self, name: str) -> Domain | None:
        return self._domains.get(name.strip().lower())

    async def list_domains(self) -> list[Domain]:
        return [self._domains[name] for name in sorted(self._domains)]

    # Professional mailboxes (MSS-BAL-1..4).
    async def add_mailbox(self, mailbox: Mailbox) -> Mailbox:
        mailbox = checks.mailbox(mailbox, datetime.now(UTC))
        if mailbox.address in self._mailboxes:
            raise AlreadyExists(f"mailbox {mailbox.address}")
        self._mailboxes[mailbox.address] = mailbox
        return mailbox

    async def get_mailbox(self, address: str) -> Mailbox | None:
        return self._mailboxes.get(address.strip().lower())

    async def list_mailboxes(self) -> list[Mailbox]:
        return [self._mailboxes[address] for address in sorted(self._mailboxes)]

    async def set_mailbox_state(self, address: str, state: BalState) -> Mailbox:
        mailbox = self._existing_mailbox(address)
        mailbox = dataclasses.replace(mailbox, state=state)
        self._mailboxes[mailbox.address] = mailbox
        return mailbox

    def _existing_mailbox(self, address: str) -> Mailbox:
        mailbox = self._mailboxes.get(address.strip().lower())
        if mailbox is None:
            raise NotFound(f"mailbox {address}")
        return mailbox

    # Credentials.
    async def set_password(self, login: str, password: str) -> None:
        if not password:
            raise InvalidRecord("an empty password is refused")
        self._hashes[checks.address(login)] = await self._passwords.hash(password)

    async def verify_password(self, login: str, password: str) -> bool:
        key = login.strip().lower()
        stored = self._hashes.get(key)
        ok = await self._passwords.verify(stored, password)
        if ok and stored is not None and self._passwords.needs_rehash(stored):
            self._hashes[key] = await self._passwords.hash(password)
        return ok

    # Delegations (MSS-BAL-2).
    async def add_delegate(self, bal: str, user: str) -> None:
        mailbox = self._existing_mailbox(bal)
        if mailbox.kind not in checks.DELEGABLE_KINDS:
            raise InvalidRecord("only ORG and CAB mailboxes have delegates (MSS-BAL-2)")
        self._delegates.setdefault(mailbox.address, set()).add(checks.address(user))

    async def remove_delegate(self, bal: str, user: str) -> None:
        self._delegates.get(bal.strip().lower(), set()).discard(user.strip().lower())

    async def delegates_of(self, bal: str) -> list[str]:
        return sorted(self._delegates.get(bal.strip().lower(), set()))

    async def may_act_for(self, user: str, address: str) -> bool:
        user, address = user.strip().lower(), address.strip().lower()
        return user == address or user in self._delegates.get(address, set())

    # Patients (MSS-INS-1, MSS-PAT-1).
    async def add_patient(self, patient: Patient) -> Patient:
        patient = checks.patient(patient)
        taken = any(known.address == patient.address for known in self._patients.values())
        if patient.ins in self._patients or taken:
            raise AlreadyExists("a patient with this INS or address exists")
        self._patients[patient.ins] = patient
        return patient

    async def get_patient(self, address: str) -> Patient | None:
        wanted = address.strip().lower()
        return next((p for p in self._patients.values() if p.address == wanted), None)

    async def list_patients(self) -> list[Patient]:
        return sorted(self._patients.values(), key=lambda patient: patient.address)

    async def set_patient_state(self, ins: str, state: ProfileState, at: datetime) -> Patient:
        current = self._patients.get(validate_ins(ins))
        if current is None:
            raise NotFound("no patient with this INS")
        patient = checks.changed_state(current, state, at)
        self._patients[patient.ins] = patient
        return patient

    async def open_due_profiles(self, now: datetime, after: timedelta) -> list[str]:
        # MSS-PAT-1: pending for `after` without opposition -> auto-created.
        now = checks.utc(now)
        due = [
            patient.ins
            for patient in self._patients.values()
            if patient.state is ProfileState.PENDING
            and patient.notified_at is not None
            and patient.notified_at <= now - after
        ]
        for ins in due:
            self._patients[ins] = dataclasses.replace(
                self._patients[ins], state=ProfileState.AUTO_CREATED, state_changed_at=now
            )
        return sorted(due)

    # The whitelist (MSS-TRUST-1/2).
    async def replace_whitelist(self, whitelist: Whitelist, loaded_at: datetime) -> None:
        entries = checks.whitelist_entries(whitelist)
        table = checks.dns_by_domain((entry.domain, entry.certificate_dn) for entry in entries)
        self._whitelist = table
        self._whitelist_status = WhitelistStatus(
            generated_at=checks.utc_or_none(whitelist.generated_at),
            loaded_at=checks.utc(loaded_at),
            entries=len(entries),
            domains=len(table),
        )

    async def whitelisted_dns(self, domain: str) -> frozenset[str]:
        return self._whitelist.get(domain.strip().lower(), frozenset())

    async def whitelist_status(self) -> WhitelistStatus:
        return self._whitelist_status

    async def record_whitelist_refresh(self, refresh: WhitelistRefresh) -> None:
        self._whitelist_refresh = checks.whitelist_refresh(refresh)

    async def whitelist_refresh(self) -> WhitelistRefresh | None:
        return self._whitelist_refresh

    # Patient conversation grants (MSS-PAT-2/3).
    async def set_grant(
        self, patient: str, correspondent: str, *, open_: bool, at: datetime
    ) -> None:
        patient = patient.strip().lower()
        if await self.get_patient(patient) is None:
            raise NotFound("no patient with this address")
        key = (patient, checks.address(correspondent))
        self._grants[key] = _Grant(open=open_, changed_at=checks.utc(at))

    async def has_grant(self, patient: str, correspondent: str) -> bool:
        grant = self._grants.get((patient.strip().lower(), correspondent.strip().lower()))
        return grant is not None and grant.open
