"""One contract suite for every ``Directory``: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import DirectorySettings
from directory.errors import AlreadyExists, InvalidIns, InvalidRecord, NotFound, WhitelistError
from directory.ins import make_ins, patient_address
from directory.interfaces import Directory
from directory.memory import MemoryDirectory
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
    WhitelistEntry,
)
from directory.sql import SqlDirectory
from directory.tables import metadata
from directory.whitelist import parse_whitelist
from tests.conftest import DATA

SETTINGS = DirectorySettings(argon2_time_cost=1, argon2_memory_kib=8)
PATIENTS = "patient.mssante.fr"
NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)
SIX_WEEKS = timedelta(days=42)
PEER_DN = "CN=mx.peer.example.fr,OU=123,O=Peer Operator,ST=Nord (59),C=FR"


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    fixture = "pg_engine" if backend == "postgres" else "sqlite_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def directory(engine: AsyncEngine | None) -> AsyncIterator[Directory]:
    if engine is None:
        yield MemoryDirectory(SETTINGS)
        return
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield SqlDirectory(engine, SETTINGS)


def _mailbox(address: str, kind: BalKind = BalKind.ORG, **fields: Any) -> Mailbox:
    return Mailbox(address=address, kind=kind, **fields)


def _patient(body: str, state: ProfileState, notified_days_ago: int | None = None) -> Patient:
    ins = make_ins(body)
    notified = None if notified_days_ago is None else NOW - timedelta(days=notified_days_ago)
    return Patient(
        ins=ins,
        address=patient_address(ins, PATIENTS),
        state=state,
        notified_at=notified,
        state_changed_at=notified,
    )


def _whitelist(*entries: tuple[str, str]) -> Whitelist:
    return Whitelist(
        generated_at=NOW - timedelta(hours=1),
        entries=tuple(WhitelistEntry(domain=d, certificate_dn=dn) for d, dn in entries),
    )


# Hosted domains.


async def test_domains_add_get_list(directory: Directory) -> None:
    await directory.add_domain(Domain("Hopital.Example.fr", DomainKind.PROFESSIONAL))
    await directory.add_domain(Domain(PATIENTS, DomainKind.PATIENT))
    assert await directory.get_domain("HOPITAL.example.fr") == Domain(
        "hopital.example.fr", DomainKind.PROFESSIONAL
    )
    assert await directory.get_domain("unknown.fr") is None
    assert [d.name for d in await directory.list_domains()] == ["hopital.example.fr", PATIENTS]
    with pytest.raises(AlreadyExists):
        await directory.add_domain(Domain("hopital.example.FR", DomainKind.PATIENT))


# Mailboxes (MSS-BAL-1, MSS-BAL-4).


async def test_bal_1_mailbox_add_get_list(directory: Directory) -> None:
    wanted = _mailbox(
        "Dr.Martin@Hopital.Example.fr",
        BalKind.PER,
        display_name="Dr Martin",
        description="Cardiologie",
        service="Cardio",
        responsible="Dr Martin",
        identifier="10001234567",
        identifier_kind=IdentifierKind.RPPS,
        profession_code="10",
        liste_rouge=True,
    )
    stored = await directory.add_mailbox(wanted)
    assert stored.address == "dr.martin@hopital.example.fr"
    assert stored.created_at is not None
    assert stored.created_at.tzinfo is not None
    assert stored == dataclasses.replace(
        wanted, address=stored.address, created_at=stored.created_at
    )
    assert await directory.get_mailbox("DR.MARTIN@hopital.example.fr") == stored
    assert await directory.get_mailbox("nobody@hopital.example.fr") is None
    app = await directory.add_mailbox(
        _mailbox("app@hopital.example.fr", BalKind.APP, no_reply=True, structure_id="1750000523")
    )
    assert [m.address for m in await directory.list_mailboxes()] == [app.address, stored.address]
    assert (await directory.get_mailbox(app.address)) == app


async def test_bal_1_duplicate_mailbox_refused(directory: Directory) -> None:
    await directory.add_mailbox(_mailbox("secretariat@hopital.example.fr"))
    with pytest.raises(AlreadyExists):
        await directory.add_mailbox(_mailbox("Secretariat@Hopital.Example.fr", BalKind.APP))
    mailbox = await directory.get_mailbox("secretariat@hopital.example.fr")
    assert mailbox is not None
    assert mailbox.kind is BalKind.ORG


@pytest.mark.parametrize(
    "mailbox",
    [
        _mailbox("a@h.fr", BalKind.ORG, no_reply=True),  # MSS-BAL-3: APP only
        _mailbox("a@h.fr", BalKind.PER, no_reply=True),
        _mailbox("a@h.fr", BalKind.PER, identifier="10001234567"),  # kind missing
        _mailbox("a@h.fr", BalKind.PER, identifier_kind=IdentifierKind.RPPS),
        _mailbox("a@h.fr", BalKind.PER, identifier="123", identifier_kind=IdentifierKind.RPPS),
        _mailbox(
            "a@h.fr", BalKind.ORG, identifier="10001234567", identifier_kind=IdentifierKind.RPPS
        ),
        _mailbox("a@h.fr", BalKind.PER, pharmacy=True),
        _mailbox("not an address", BalKind.ORG),
    ],
)
async def test_bal_1_invalid_mailbox_refused(directory: Directory, mailbox: Mailbox) -> None:
    with pytest.raises(InvalidRecord):
        await directory.add_mailbox(mailbox)
    assert await directory.list_mailboxes() == []


async def test_bal_1_valid_identifiers_and_flags(directory: Directory) -> None:
    await directory.add_mailbox(
        _mailbox(
            "cab@h.fr", BalKind.CAB, identifier="75A012345", identifier_kind=IdentifierKind.ADELI
        )
    )
    await directory.add_mailbox(_mailbox("pharmacie@h.fr", BalKind.ORG, pharmacy=True))
    await directory.add_mailbox(_mailbox("per@h.fr", BalKind.PER))  # identifier is optional
    pharmacy = await directory.get_mailbox("pharmacie@h.fr")
    assert pharmacy is not None
    assert pharmacy.pharmacy


async def test_bal_4_state_changes(directory: Directory) -> None:
    await directory.add_mailbox(_mailbox("org@h.fr"))
    suspended = await directory.set_mailbox_state("ORG@h.fr", BalState.SUSPENDED)
    assert suspended.state is BalState.SUSPENDED
    assert await directory.get_mailbox("org@h.fr") == suspended
    closed = await directory.set_mailbox_state("org@h.fr", BalState.CLOSED)
    assert closed.state is BalState.CLOSED
    assert closed.kind is BalKind.ORG
    with pytest.raises(NotFound):
        await directory.set_mailbox_state("nobody@h.fr", BalState.ACTIVE)


# Credentials.


async def test_passwords_set_verify(directory: Directory) -> None:
    await directory.set_password("Dr.Martin@h.fr", "correct horse")
    assert await directory.verify_password("dr.martin@h.fr", "correct horse")
    assert await directory.verify_password("DR.MARTIN@H.FR", "correct horse")
    assert not await directory.verify_password("dr.martin@h.fr", "Correct horse")
    assert not await directory.verify_password("dr.martin@h.fr", "")
    assert not await directory.verify_password("unknown@h.fr", "correct horse")
    await directory.set_password("dr.martin@h.fr", "battery staple")
    assert not await directory.verify_password("dr.martin@h.fr", "correct horse")
    assert await directory.verify_password("dr.martin@h.fr", "battery staple")
    with pytest.raises(InvalidRecord):
        await directory.set_password("dr.martin@h.fr", "")


# Delegations (MSS-BAL-2).


async def test_bal_2_delegates_act_for_the_org_bal(directory: Directory) -> None:
    await directory.add_mailbox(_mailbox("secretariat@h.fr", BalKind.ORG))
    await directory.add_delegate("Secretariat@h.fr", "Dr.B@h.fr")
    await directory.add_delegate("secretariat@h.fr", "dr.a@h.fr")
    await directory.add_delegate("secretariat@h.fr", "dr.a@h.fr")  # twice: no error, one row
    assert await directory.delegates_of("SECRETARIAT@h.fr") == ["dr.a@h.fr", "dr.b@h.fr"]
    assert await directory.may_act_for("Dr.A@h.fr", "secretariat@H.fr")
    assert await directory.may_act_for("dr.c@h.fr", "Dr.C@h.fr")  # one's own address
    assert not await directory.may_act_for("dr.c@h.fr", "secretariat@h.fr")
    assert not await directory.may_act_for("secretariat@h.fr", "dr.a@h.fr")  # not the reverse
    await directory.remove_delegate("secretariat@h.fr", "DR.A@h.fr")
    await directory.remove_delegate("secretariat@h.fr", "never@h.fr")  # no error
    assert not await directory.may_act_for("dr.a@h.fr", "secretariat@h.fr")
    assert await directory.delegates_of("secretariat@h.fr") == ["dr.b@h.fr"]


async def test_bal_2_delegation_needs_an_org_or_cab_bal(directory: Directory) -> None:
    await directory.add_mailbox(_mailbox("per@h.fr", BalKind.PER))
    await directory.add_mailbox(_mailbox("cab@h.fr", BalKind.CAB))
    with pytest.raises(InvalidRecord):
        await directory.add_delegate("per@h.fr", "dr.a@h.fr")
    with pytest.raises(NotFound):
        await directory.add_delegate("nobody@h.fr", "dr.a@h.fr")
    await directory.add_delegate("cab@h.fr", "dr.a@h.fr")
    assert await directory.may_act_for("dr.a@h.fr", "cab@h.fr")


# Patients (MSS-INS-1, MSS-PAT-1).


async def test_ins_1_patient_add_get_list(directory: Directory) -> None:
    ins = make_ins("185012A123456")
    wanted = Patient(
        ins=ins.lower(),
        address=f"{ins}@Patient.MSSante.fr",
        state=ProfileState.ACTIVE,
        given_name="Jeanne",
        family_name="Martin",
        birth_date="1985-01-31",
        notification_email="jeanne@example.org",
        state_changed_at=NOW,
    )
    stored = await directory.add_patient(wanted)
    assert stored == dataclasses.replace(wanted, ins=ins, address=f"{ins.lower()}@{PATIENTS}")
    assert await directory.get_patient(f"{ins}@PATIENT.MSSANTE.FR") == stored
    assert await directory.get_patient(f"{make_ins('1850175123456').lower()}@{PATIENTS}") is None
    other = await directory.add_patient(_patient("2850175123456", ProfileState.PENDING, 3))
    assert await directory.list_patients() == sorted([stored, other], key=lambda p: p.address)


async def test_ins_1_bad_patients_refused(directory: Directory) -> None:
    good = _patient("1850175123456", ProfileState.ACTIVE)
    with pytest.raises(InvalidIns):
        await directory.add_patient(dataclasses.replace(good, ins=good.ins[:13] + "00"))
    other = make_ins("2850175123456").lower()
    with pytest.raises(InvalidRecord):  # the address must be <ins>@domain
        await directory.add_patient(dataclasses.replace(good, address=f"{other}@{PATIENTS}"))
    with pytest.raises(InvalidRecord):  # MSS-PAT-1: pending means notified
        await directory.add_patient(dataclasses.replace(good, state=ProfileState.PENDING))
    with pytest.raises(InvalidRecord):
        await directory.add_patient(dataclasses.replace(good, birth_date="31/01/1985"))
    assert await directory.list_patients() == []
    await directory.add_patient(good)
    with pytest.raises(AlreadyExists):
        await directory.add_patient(good)


async def test_pat_1_state_changes(directory: Directory) -> None:
    patient = await directory.add_patient(_patient("1850175123456", ProfileState.PENDING, 5))
    later = NOW + timedelta(days=1)
    opposed = await directory.set_patient_state(patient.ins.lower(), ProfileState.OPPOSED, later)
    assert opposed.state is ProfileState.OPPOSED
    assert opposed.state_changed_at == later
    assert opposed.notified_at == patient.notified_at
    assert await directory.get_patient(patient.address) == opposed
    # A closed profile can be reopened; pending again restarts the six weeks.
    await directory.set_patient_state(patient.ins, ProfileState.CLOSED, later)
    reopened = await directory.set_patient_state(patient.ins, ProfileState.PENDING, NOW)
    assert reopened.notified_at == NOW
    assert reopened.state is ProfileState.PENDING
    with pytest.raises(NotFound):
        await directory.set_patient_state(make_ins("2850175123456"), ProfileState.ACTIVE, NOW)


async def test_pat_1_open_due_profiles_after_six_weeks(directory: Directory) -> None:
    """MSS-PAT-1: pending 43 days -> auto-created; 10 days -> pending; opposed untouched."""
    due = await directory.add_patient(_patient("1850175123456", ProfileState.PENDING, 43))
    recent = await directory.add_patient(_patient("2850175123456", ProfileState.PENDING, 10))
    opposed = await directory.add_patient(_patient("1900175123456", ProfileState.OPPOSED, 60))
    closed = await directory.add_patient(_patient("2900175123456", ProfileState.CLOSED, 60))
    assert await directory.open_due_profiles(NOW, SIX_WEEKS) == [due.ins]
    opened = await directory.get_patient(due.address)
    assert opened is not None
    assert opened.state is ProfileState.AUTO_CREATED
    assert opened.state_changed_at == NOW
    assert opened.state.is_open
    assert await directory.get_patient(recent.address) == recent
    assert await directory.get_patient(opposed.address) == opposed
    assert await directory.get_patient(closed.address) == closed
    assert await directory.open_due_profiles(NOW, SIX_WEEKS) == []


# The whitelist (MSS-TRUST-1/2).


async def test_trust_1_whitelist_replace_lookup_status(directory: Directory) -> None:
    empty = await directory.whitelist_status()
    assert (empty.entries, empty.domains, empty.loaded_at) == (0, 0, None)
    assert await directory.whitelisted_dns("peer.example.fr") == frozenset()
    await directory.replace_whitelist(
        _whitelist(
            ("Peer.Example.fr", PEER_DN),
            ("peer.example.fr", "CN=mx2.peer.example.fr,C=FR"),
            ("other.example.fr", PEER_DN.replace(", ", ",")),
        ),
        loaded_at=NOW,
    )
    dns = await directory.whitelisted_dns("PEER.example.FR")
    assert dns == frozenset(
        {
            "CN=mx.peer.example.fr,OU=123,O=peer operator,ST=nord (59),C=fr",
            "CN=mx2.peer.example.fr,C=fr",
        }
    )
    assert await directory.whitelisted_dns("unknown.example.fr") == frozenset()
    status = await directory.whitelist_status()
    assert (status.entries, status.domains) == (3, 2)
    assert status.loaded_at == NOW
    assert status.generated_at == NOW - timedelta(hours=1)


async def test_trust_1_whitelist_replaced_whole(directory: Directory) -> None:
    await directory.replace_whitelist(_whitelist(("old.example.fr", PEER_DN)), loaded_at=NOW)
    sample = parse_whitelist((DATA / "whitelist-sample.xml").read_bytes())
    await directory.replace_whitelist(sample, loaded_at=NOW + timedelta(hours=1))
    assert await directory.whitelisted_dns("old.example.fr") == frozenset()
    assert len(await directory.whitelisted_dns("interop-mssante.apicrypt.org")) == 2
    assert len(await directory.whitelisted_dns("ch-ouestguyane.mssante.fr")) == 1
    status = await directory.whitelist_status()
    assert (status.entries, status.domains) == (9, 5)
    assert status.generated_at == datetime(2025, 3, 13, 14, 54, 10, tzinfo=UTC)


async def test_trust_1_empty_whitelist_refused_and_previous_kept(directory: Directory) -> None:
    await directory.replace_whitelist(_whitelist(("peer.example.fr", PEER_DN)), loaded_at=NOW)
    with pytest.raises(WhitelistError):
        await directory.replace_whitelist(Whitelist(generated_at=NOW), loaded_at=NOW)
    with pytest.raises(WhitelistError):
        await directory.replace_whitelist(_whitelist(("x.fr", "CN=a,,b")), loaded_at=NOW)
    assert len(await directory.whitelisted_dns("peer.example.fr")) == 1
    assert (await directory.whitelist_status()).entries == 1


async def test_trust_1_whitelist_seen_by_every_node(engine: AsyncEngine | None) -> None:
    """A list loaded through one SqlDirectory is served by another on the same database."""
    if engine is None:
        pytest.skip("SQL backends only")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    node_a = SqlDirectory(engine, SETTINGS)
    node_b = SqlDirectory(engine, SETTINGS, whitelist_check_interval=0)
    assert await node_b.whitelisted_dns("peer.example.fr") == frozenset()
    await node_a.replace_whitelist(_whitelist(("peer.example.fr", PEER_DN)), loaded_at=NOW)
    assert len(await node_b.whitelisted_dns("peer.example.fr")) == 1
    late = SqlDirectory(engine, SETTINGS)  # loads lazily on first use
    assert len(await late.whitelisted_dns("peer.example.fr")) == 1
    assert (await late.whitelist_status()).loaded_at == NOW


# Grants (MSS-PAT-2/3).


async def test_pat_3_grants_open_close_reopen(directory: Directory) -> None:
    patient = await directory.add_patient(_patient("1850175123456", ProfileState.ACTIVE))
    doctor = "Dr.Martin@Hopital.Example.fr"
    assert not await directory.has_grant(patient.address, doctor)
    await directory.set_grant(patient.address, doctor, open_=True, at=NOW)  # MSS-PAT-2
    assert await directory.has_grant(patient.address.upper(), doctor.lower())
    assert not await directory.has_grant(patient.address, "other@hopital.example.fr")
    await directory.set_grant(patient.address, doctor, open_=False, at=NOW)  # [FIN]
    assert not await directory.has_grant(patient.address, doctor)
    await directory.set_grant(patient.address, doctor, open_=True, at=NOW)  # re-opened
    assert await directory.has_grant(patient.address, doctor)


async def test_pat_3_closed_grant_without_history_and_unknown_patient(directory: Directory) -> None:
    patient = await directory.add_patient(_patient("1850175123456", ProfileState.ACTIVE))
    await directory.set_grant(patient.address, "dr@h.fr", open_=False, at=NOW)
    assert not await directory.has_grant(patient.address, "dr@h.fr")
    unknown = patient_address(make_ins("2850175123456"), PATIENTS)
    with pytest.raises(NotFound):
        await directory.set_grant(unknown, "dr@h.fr", open_=True, at=NOW)
