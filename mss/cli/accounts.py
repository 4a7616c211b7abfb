"""Directory administration: hosted domains, mailboxes, delegates, patients."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from directory.ins import patient_address, validate_ins
from directory.models import (
    BalKind,
    BalState,
    Domain,
    DomainKind,
    IdentifierKind,
    Mailbox,
    Patient,
    ProfileState,
)
from mss.app import Operator
from mss.cli.base import CliError, asynchronous, config_option, main, with_operator


@main.group()
def domain() -> None:
    """Hosted domains."""


@domain.command("add")
@config_option
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in DomainKind]), required=True)
@asynchronous
async def domain_add(config_path: Path, name: str, kind: str) -> None:
    await with_operator(
        config_path, lambda op: op.directory.add_domain(Domain(name.lower(), DomainKind(kind)))
    )
    click.echo(f"domain {name.lower()} added")


@main.group()
def mailbox() -> None:
    """Professional mailboxes (BAL)."""


@mailbox.command("add")
@config_option
@click.argument("address")
@click.option("--kind", type=click.Choice([k.value for k in BalKind]), required=True)
@click.option("--password", help="Password (prompted when omitted).")
@click.option("--name", "display_name", default="")
@click.option("--rpps")
@click.option("--adeli")
@click.option("--profession")
@click.option("--structure", "structure_id")
@click.option("--pharmacy", is_flag=True)
@click.option("--no-reply", "no_reply", is_flag=True)
@asynchronous
async def mailbox_add(
    config_path: Path,
    address: str,
    kind: str,
    password: str | None,
    display_name: str,
    rpps: str | None,
    adeli: str | None,
    profession: str | None,
    structure_id: str | None,
    pharmacy: bool,
    no_reply: bool,
) -> None:
    if rpps and adeli:
        raise CliError("give --rpps or --adeli, not both")
    secret = password or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    record = Mailbox(
        address=address.lower(),
        kind=BalKind(kind),
        display_name=display_name,
        identifier=rpps or adeli,
        identifier_kind=IdentifierKind.RPPS if rpps else IdentifierKind.ADELI if adeli else None,
        profession_code=profession,
        structure_id=structure_id,
        pharmacy=pharmacy,
        no_reply=no_reply,
        created_at=datetime.now(UTC),
    )

    async def add(op: Operator) -> None:
        await _require_domain(op, record.address, DomainKind.PROFESSIONAL)
        await op.directory.add_mailbox(record)
        await op.directory.set_password(record.address, secret)
        await op.store.create_account(record.address)

    await with_operator(config_path, add)
    click.echo(f"mailbox {record.address} ({kind}) added")


@mailbox.command("list")
@config_option
@asynchronous
async def mailbox_list(config_path: Path) -> None:
    for box in await with_operator(config_path, lambda op: op.directory.list_mailboxes()):
        flags = [f for f, on in (("pharmacy", box.pharmacy), ("no-reply", box.no_reply)) if on]
        click.echo(f"{box.address}\t{box.kind.value}\t{box.state.value}\t{','.join(flags)}")


def _state_command(name: str, state: BalState) -> None:
    @mailbox.command(name, help=f"Mark a mailbox {state.value} (MSS-BAL-4).")
    @config_option
    @click.argument("address")
    @asynchronous
    async def command(config_path: Path, address: str) -> None:
        await with_operator(
            config_path, lambda op: op.directory.set_mailbox_state(address.lower(), state)
        )
        click.echo(f"mailbox {address.lower()} {state.value}")


_state_command("suspend", BalState.SUSPENDED)
_state_command("close", BalState.CLOSED)
_state_command("activate", BalState.ACTIVE)


@main.group()
def delegate() -> None:
    """Delegates of organisational mailboxes (MSS-BAL-2)."""


@delegate.command("add")
@config_option
@click.argument("bal")
@click.argument("user")
@asynchronous
async def delegate_add(config_path: Path, bal: str, user: str) -> None:
    await with_operator(
        config_path, lambda op: op.directory.add_delegate(bal.lower(), user.lower())
    )
    click.echo(f"{user.lower()} may now act for {bal.lower()}")


@delegate.command("remove")
@config_option
@click.argument("bal")
@click.argument("user")
@asynchronous
async def delegate_remove(config_path: Path, bal: str, user: str) -> None:
    await with_operator(
        config_path, lambda op: op.directory.remove_delegate(bal.lower(), user.lower())
    )
    click.echo(f"{user.lower()} no longer acts for {bal.lower()}")


@main.group()
def patient() -> None:
    """Patient mailboxes (MSS-INS-1, MSS-PAT-1)."""


@patient.command("add")
@config_option
@click.argument("ins")
@click.option(
    "--state",
    type=click.Choice([s.value for s in ProfileState]),
    default="pending",
    show_default=True,
)
@click.option("--email", "notification_email", help="Personal address for notifications.")
@click.option("--password", help="Webmail password.")
@asynchronous
async def patient_add(
    config_path: Path,
    ins: str,
    state: str,
    notification_email: str | None,
    password: str | None,
) -> None:
    async def add(op: Operator) -> str:
        domain = await _patient_domain(op)
        normalised = validate_ins(ins)
        now = datetime.now(UTC)
        record = Patient(
            ins=normalised,
            address=patient_address(normalised, domain),
            state=ProfileState(state),
            notification_email=notification_email,
            notified_at=now,
            state_changed_at=now,
        )
        await op.directory.add_patient(record)
        if password:
            await op.directory.set_password(record.address, password)
        await op.store.create_account(record.address)
        return record.address

    address = await with_operator(config_path, add)
    click.echo(f"patient {address} added ({state})")


@patient.command("set-state")
@config_option
@click.argument("ins")
@click.argument("state", type=click.Choice([s.value for s in ProfileState]))
@asynchronous
async def patient_set_state(config_path: Path, ins: str, state: str) -> None:
    await with_operator(
        config_path,
        lambda op: op.directory.set_patient_state(
            validate_ins(ins), ProfileState(state), datetime.now(UTC)
        ),
    )
    click.echo(f"patient {validate_ins(ins)} {state}")


@patient.command("list")
@config_option
@asynchronous
async def patient_list(config_path: Path) -> None:
    for record in await with_operator(config_path, lambda op: op.directory.list_patients()):
        click.echo(f"{record.ins}\t{record.address}\t{record.state.value}")


async def _require_domain(op: Operator, address: str, kind: DomainKind) -> None:
    name = address.rpartition("@")[2]
    found = await op.directory.get_domain(name)
    if found is None or found.kind is not kind:
        raise CliError(f"{name} is not a hosted {kind.value} domain (mss domain add)")


async def _patient_domain(op: Operator) -> str:
    for found in await op.directory.list_domains():
        if found.kind is DomainKind.PATIENT:
            return found.name
    raise CliError("no patient domain is hosted (mss domain add NAME --kind patient)")
