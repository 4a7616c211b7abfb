"""The SQL ``Directory`` (SQLAlchemy Core, async) on SQLite or PostgreSQL.

Every method runs in its own transaction. ``whitelisted_dns``, on the path of every inbound
message, is served from memory (see ``directory.sql_whitelist``).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from config.settings import DirectorySettings
from directory import checks
from directory.errors import AlreadyExists, InvalidRecord, NotFound
from directory.ins import validate_ins
from directory.models import (
    BalKind,
    BalState,
    Domain,
    DomainKind,
    IdentifierKind,
    Mailbox,
    Patient,
    ProfileState,
    Whitelist,
    WhitelistRefresh,
    WhitelistStatus,
)
from directory.passwords import Passwords
from directory.sql_whitelist import (
    WhitelistCache,
    load_whitelist_refresh,
    load_whitelist_status,
    store_whitelist,
    store_whitelist_refresh,
)
from directory.tables import (
    aware,
    credentials,
    delegations,
    domains,
    grants,
    mailboxes,
    patients,
)


class SqlDirectory:
    """Implements ``directory.interfaces.Directory`` on an ``AsyncEngine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: DirectorySettings,
        *,
        whitelist_check_interval: float = 30.0,
    ) -> None:
        self._engine = engine
        self._passwords = Passwords(settings)
        self._whitelist = WhitelistCache(engine, check_interval=whitelist_check_interval)

    # Hosted domains.
    async def add_domain(self, domain: Domain) -> None:
        domain = checks.domain(domain)
        await self._insert(domains, {"name": domain.name, "kind": domain.kind.value}, "domain")

    async def get_domain(self, name: str) -> Domain | None:
        row = await self._one(select(domains).where(domains.c.name == name.strip().lower()))
        return None if row is None else Domain(name=row["name"], kind=DomainKind(row["kind"]))

    async def list_domains(self) -> list[Domain]:
        rows = await self._all(select(domains).order_by(domains.c.name))
        return [Domain(name=row["name"], kind=DomainKind(row["kind"])) for row in rows]

    # Professional mailboxes (MSS-BAL-1..4).
    async def add_mailbox(self, mailbox: Mailbox) -> Mailbox:
        mailbox = checks.mailbox(mailbox, datetime.now(UTC))
        await self._insert(mailboxes, _mailbox_values(mailbox), "mailbox")
        return mailbox

    async def get_mailbox(self, address: str) -> Mailbox | None:
        row = await self._one(_mailbox_query(address))
        return None if row is None else _mailbox(row)

    async def list_mailboxes(self) -> list[Mailbox]:
        return [_mailbox(row) for row in await self._all(select(mailboxes).order_by("address"))]

    async def set_mailbox_state(self, address: str, state: BalState) -> Mailbox:
        async with self._engine.begin() as conn:
            changed = await conn.execute(
                update(mailboxes)
                .where(mailboxes.c.address == address.strip().lower())
                .values(state=state.value)
            )
            if changed.rowcount == 0:
                raise NotFound(f"mailbox {address}")
            row = (await conn.execute(_mailbox_query(address))).mappings().one()
        return _mailbox(row)

    # Credentials (argon2id hashes).
    async def set_password(self, login: str, password: str) -> None:
        if not password:
            raise InvalidRecord("an empty password is refused")
        await self._store_hash(checks.address(login), await self._passwords.hash(password))

    async def verify_password(self, login: str, password: str) -> bool:
        key = login.strip().lower()
        row = await self._one(select(credentials.c.password_hash).where(credentials.c.login == key))
        stored: str | None = None if row is None else row["password_hash"]
        ok = await self._passwords.verify(stored, password)
        if ok and stored is not None and self._passwords.needs_rehash(stored):
            await self._store_hash(key, await self._passwords.hash(password))
        return ok

    async def _store_hash(self, login: str, password_hash: str) -> None:
        values = {"password_hash": password_hash, "updated_at": datetime.now(UTC)}
        key = credentials.c.login == login
        await self._upsert(credentials, key, values, {"login": login, **values})

    # Delegations (MSS-BAL-2).
    async def add_delegate(self, bal: str, user: str) -> None:
        bal, user = bal.strip().lower(), checks.address(user)
        mailbox = await self.get_mailbox(bal)
        if mailbox is None:
            raise NotFound(f"mailbox {bal}")
        if mailbox.kind not in checks.DELEGABLE_KINDS:
            raise InvalidRecord("only ORG and CAB mailboxes have delegates (MSS-BAL-2)")
        if not await self._is_delegate(user, bal):
            # A concurrent call may have added it meanwhile: the outcome is the same.
            with contextlib.suppress(AlreadyExists):
                await self._insert(delegations, {"bal": bal, "delegate": user}, "delegation")

    async def remove_delegate(self, bal: str, user: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delegations.delete().where(_delegation(user, bal)))

    async def delegates_of(self, bal: str) -> list[str]:
        query = (
            select(delegations.c.delegate)
            .where(delegations.c.bal == bal.strip().lower())
            .order_by(delegations.c.delegate)
        )
        return [row["delegate"] for row in await self._all(query)]

    async def may_act_for(self, user: str, address: str) -> bool:
        if user.strip().lower() == address.strip().lower():
            return True
        return await self._is_delegate(user, address)

    async def _is_delegate(self, user: str, bal: str) -> bool:
        return await self._one(select(delegations.c.bal).where(_delegation(user, bal))) is not None

    # Patients (MSS-INS-1, MSS-PAT-1).
    async def add_patient(self, patient: Patient) -> Patient:
        patient = checks.patient(patient)
        await self._insert(patients, _patient_values(patient), "patient")
        return patient

    async def get_patient(self, address: str) -> Patient | None:
        row = await self._one(select(patients).where(patients.c.address == address.strip().lower()))
        return None if row is None else _patient(row)

    async def list_patients(self) -> list[Patient]:
        return [_patient(row) for row in await self._all(select(patients).order_by("address"))]

    async def set_patient_state(self, ins: str, state: ProfileState, at: datetime) -> Patient:
        ins = validate_ins(ins)
        async with self._engine.begin() as conn:
            query = select(patients).where(patients.c.ins == ins)
            row = (await conn.execute(query)).mappings().one_or_none()
            if row is None:
                raise NotFound("no patient with this INS")
            patient = checks.changed_state(_patient(row), state, at)
            values = _patient_values(patient)
            await conn.execute(update(patients).where(patients.c.ins == ins).values(values))
        return patient

    async def open_due_profiles(self, now: datetime, after: timedelta) -> list[str]:
        # MSS-PAT-1: pending for `after` without opposition -> auto-created.
        now = checks.utc(now)
        statement = (
            update(patients)
            .where(
                and_(
                    patients.c.state == ProfileState.PENDING.value,
                    patients.c.notified_at <= now - after,
                )
            )
            .values(state=ProfileState.AUTO_CREATED.value, state_changed_at=now)
            .returning(patients.c.ins)
        )
        async with self._engine.begin() as conn:
            opened = (await conn.execute(statement)).scalars().all()
        return sorted(opened)

    # The whitelist (MSS-TRUST-1/2).
    async def replace_whitelist(self, whitelist: Whitelist, loaded_at: datetime) -> None:
        entries = checks.whitelist_entries(whitelist)
        async with self._engine.begin() as conn:  # one transaction: all or nothing
            version = await store_whitelist(conn, whitelist, entries, checks.utc(loaded_at))
        self._whitelist.loaded(entries, version)

    async def whitelisted_dns(self, domain: str) -> frozenset[str]:
        return await self._whitelist.dns(domain)

    async def whitelist_status(self) -> WhitelistStatus:
        async with self._engine.connect() as conn:
            return await load_whitelist_status(conn)

    async def record_whitelist_refresh(self, refresh: WhitelistRefresh) -> None:
        async with self._engine.begin() as conn:
            await store_whitelist_refresh(conn, checks.whitelist_refresh(refresh))

    async def whitelist_refresh(self) -> WhitelistRefresh | None:
        async with self._engine.connect() as conn:
            return await load_whitelist_refresh(conn)

    # Patient conversation grants (MSS-PAT-2/3).
    async def set_grant(
        self, patient: str, correspondent: str, *, open_: bool, at: datetime
    ) -> None:
        patient, correspondent = patient.strip().lower(), checks.address(correspondent)
        if await self.get_patient(patient) is None:
            raise NotFound("no patient with this address")
        values = {"is_open": open_, "changed_at": checks.utc(at)}
        key = and_(grants.c.patient == patient, grants.c.correspondent == correspondent)
        await self._upsert(
            grants, key, values, {"patient": patient, "correspondent": correspondent, **values}
        )

    async def has_grant(self, patient: str, correspondent: str) -> bool:
        query = select(grants.c.is_open).where(
            grants.c.patient == patient.strip().lower(),
            grants.c.correspondent == correspondent.strip().lower(),
        )
        row = await self._one(query)
        return row is not None and bool(row["is_open"])

    # Helpers.
    async def _one(self, query: Any) -> RowMapping | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).mappings().one_or_none()

    async def _all(self, query: Any) -> list[RowMapping]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).mappings().all())

    async def _insert(self, table: Any, values: dict[str, Any], what: str) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(table.insert().values(values))
        except IntegrityError:
            raise AlreadyExists(f"this {what} exists already") from None

    async def _upsert(
        self, table: Any, key: Any, values: dict[str, Any], row: dict[str, Any]
    ) -> None:
        """Update the row matching ``key`` or insert ``row``; a lost insert race updates."""
        try:
            async with self._engine.begin() as conn:
                await _update_or_insert(conn, table, key, values, row)
        except IntegrityError:
            async with self._engine.begin() as conn:
                await conn.execute(update(table).where(key).values(values))


async def _update_or_insert(
    conn: AsyncConnection, table: Any, key: Any, values: dict[str, Any], row: dict[str, Any]
) -> None:
    changed = await conn.execute(update(table).where(key).values(values))
    if changed.rowcount == 0:
        await conn.execute(table.insert().values(row))


def _delegation(user: str, bal: str) -> Any:
    return and_(
        delegations.c.bal == bal.strip().lower(),
        delegations.c.delegate == user.strip().lower(),
    )


def _mailbox_query(address: str) -> Any:
    return select(mailboxes).where(mailboxes.c.address == address.strip().lower())


def _mailbox_values(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "address": mailbox.address,
        "kind": mailbox.kind.value,
        "state": mailbox.state.value,
        "display_name": mailbox.display_name,
        "description": mailbox.description,
        "service": mailbox.service,
        "responsible": mailbox.responsible,
        "identifier": mailbox.identifier,
        "identifier_kind": _value(mailbox.identifier_kind),
        "profession_code": mailbox.profession_code,
        "structure_id": mailbox.structure_id,
        "liste_rouge": mailbox.liste_rouge,
        "pharmacy": mailbox.pharmacy,
        "no_reply": mailbox.no_reply,
        "created_at": mailbox.created_at,
    }


def _value(kind: IdentifierKind | None) -> str | None:
    return None if kind is None else kind.value


def _mailbox(row: RowMapping) -> Mailbox:
    kind = row["identifier_kind"]
    return Mailbox(
        address=row["address"],
        kind=BalKind(row["kind"]),
        state=BalState(row["state"]),
        display_name=row["display_name"],
        description=row["description"],
        service=row["service"],
        responsible=row["responsible"],
        identifier=row["identifier"],
        identifier_kind=None if kind is None else IdentifierKind(kind),
        profession_code=row["profession_code"],
        structure_id=row["structure_id"],
        liste_rouge=bool(row["liste_rouge"]),
        pharmacy=bool(row["pharmacy"]),
        no_reply=bool(row["no_reply"]),
        created_at=aware(row["created_at"]),
    )


def _patient_values(patient: Patient) -> dict[str, Any]:
    return {
        "ins": patient.ins,
        "address": patient.address,
        "state": patient.state.value,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birth_date": patient.birth_date,
        "notification_email": patient.notification_email,
        "notified_at": patient.notified_at,
        "state_changed_at": patient.state_changed_at,
    }


def _patient(row: RowMapping) -> Patient:
    return Patient(
        ins=row["ins"],
        address=row["address"],
        state=ProfileState(row["state"]),
        given_name=row["given_name"],
        family_name=row["family_name"],
        birth_date=row["birth_date"],
        notification_email=row["notification_email"],
        notified_at=aware(row["notified_at"]),
        state_changed_at=aware(row["state_changed_at"]),
    )
