"""The ``mss`` command line. Errors are one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import uvloop

from config import ConfigError, Settings, load_settings
from config.example import render_example
from directory.errors import DirectoryError
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
from directory.whitelist import parse_whitelist
from mss import demo as demo_module
from mss.app import Operator, open_operator, run
from mss.dkim import dns_record, generate_key, save_key

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A refusal with a message for the operator's administrator."""


class Cli(click.Group):
    """Turns every known error into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (CliError, ConfigError, DirectoryError, OSError, ValueError) as error:
            click.echo(f"mss: error: {_one_line(error)}", err=True)
            sys.exit(1)


def _one_line(error: Exception) -> str:
    return "; ".join(line for line in str(error).splitlines() if line) or type(error).__name__


def asynchronous(func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(func(*args, **kwargs))

    return wrapper


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="MSS_CONFIG",
    required=True,
    help="Configuration file (or MSS_CONFIG).",
)


def _settings(path: Path) -> Settings:
    return load_settings(path)


async def _with_operator(path: Path, action: Callable[[Operator], Awaitable[R]]) -> R:
    async with open_operator(_settings(path)) as operator:
        return await action(operator)


@click.group(cls=Cli)
def main() -> None:
    """mss: an MSSanté secure health messaging operator."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


# --- serve / demo -------------------------------------------------------------------------------


@main.command()
@config_option
def serve(config_path: Path) -> None:
    """Run the operator until SIGINT/SIGTERM."""
    settings = _settings(config_path)
    logging.getLogger().setLevel(settings.logging.level)
    _run_loop(run(settings, ready=_announce))


async def _announce(operator: Operator) -> None:
    for name, listener in operator.listeners.items():
        click.echo(f"{name}: {listener.host}:{listener.port}")


@main.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("mss-demo"),
    show_default=True,
    help="Demo folder.",
)
@click.option(
    "--port-base",
    type=int,
    default=2000,
    show_default=True,
    help="Ports are BASE+25 (MX), BASE+587, BASE+465; 0 picks free ports.",
)
def demo(folder: Path, port_base: int) -> None:
    """Create (first run) and serve a self-contained demo operator."""
    created = demo_module.prepare(folder, port_base)
    settings = _settings(folder / demo_module.CONFIG)

    async def ready(operator: Operator) -> None:
        await demo_module.populate(operator, folder)
        manifest = demo_module.write_manifest(operator, folder)
        click.echo(("Created" if created else "Reusing") + f" the demo operator in {folder}")
        await _announce(operator)
        click.echo(f"Accounts, passwords and certificates: {manifest}")
        click.echo("Stop with Ctrl-C.")

    _run_loop(run(settings, ready=ready))


# --- config -------------------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Example configuration and validation."""


@config_group.command("example")
def config_example() -> None:
    """Print a commented example configuration with every setting and its default."""
    click.echo(render_example(), nl=False)


@config_group.command("check")
@config_option
def config_check(config_path: Path) -> None:
    """Validate a configuration file."""
    _settings(config_path)
    click.echo(f"{config_path}: OK")


# --- directory administration ---------------------------------------------------------------


@main.group()
def domain() -> None:
    """Hosted domains."""


@domain.command("add")
@config_option
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in DomainKind]), required=True)
@asynchronous
async def domain_add(config_path: Path, name: str, kind: str) -> None:
    await _with_operator(
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

    await _with_operator(config_path, add)
    click.echo(f"mailbox {record.address} ({kind}) added")


@mailbox.command("list")
@config_option
@asynchronous
async def mailbox_list(config_path: Path) -> None:
    for box in await _with_operator(config_path, lambda op: op.directory.list_mailboxes()):
        flags = [f for f, on in (("pharmacy", box.pharmacy), ("no-reply", box.no_reply)) if on]
        click.echo(f"{box.address}\t{box.kind.value}\t{box.state.value}\t{','.join(flags)}")


def _state_command(name: str, state: BalState) -> None:
    @mailbox.command(name, help=f"Mark a mailbox {state.value} (MSS-BAL-4).")
    @config_option
    @click.argument("address")
    @asynchronous
    async def command(config_path: Path, address: str) -> None:
        await _with_operator(
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
    await _with_operator(
        config_path, lambda op: op.directory.add_delegate(bal.lower(), user.lower())
    )
    click.echo(f"{user.lower()} may now act for {bal.lower()}")


@delegate.command("remove")
@config_option
@click.argument("bal")
@click.argument("user")
@asynchronous
async def delegate_remove(config_path: Path, bal: str, user: str) -> None:
    await _with_operator(
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

    address = await _with_operator(config_path, add)
    click.echo(f"patient {address} added ({state})")


@patient.command("set-state")
@config_option
@click.argument("ins")
@click.argument("state", type=click.Choice([s.value for s in ProfileState]))
@asynchronous
async def patient_set_state(config_path: Path, ins: str, state: str) -> None:
    await _with_operator(
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
    for record in await _with_operator(config_path, lambda op: op.directory.list_patients()):
        click.echo(f"{record.ins}\t{record.address}\t{record.state.value}")


@main.group()
def whitelist() -> None:
    """The ANS whitelist of the space of trust (MSS-TRUST-1)."""


@whitelist.command("import")
@config_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@asynchronous
async def whitelist_import(config_path: Path, file: Path) -> None:
    parsed = parse_whitelist(await asyncio.to_thread(file.read_bytes))
    await _with_operator(
        config_path, lambda op: op.directory.replace_whitelist(parsed, datetime.now(UTC))
    )
    domains = len({entry.domain for entry in parsed.entries})
    click.echo(f"whitelist imported: {len(parsed.entries)} entries, {domains} domains")


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


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Serve on uvloop: libuv's event loop with TLS in C, about twice asyncio's throughput."""
    uvloop.run(main)


@main.group()
def dkim() -> None:
    """DKIM keys for our domains."""


@dkim.command("keygen")
@click.argument("domain")
@click.option("--selector", default="mss1", show_default=True)
@click.option("--kind", type=click.Choice(["rsa", "ed25519"]), default="rsa", show_default=True)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Private key file (default: DOMAIN.SELECTOR.dkim.pem), created mode 0600.",
)
def dkim_keygen(domain: str, selector: str, kind: str, out: Path | None) -> None:
    """Make a key and print the DNS TXT record to publish."""
    key = generate_key("ed25519" if kind == "ed25519" else "rsa")
    path = out or Path(f"{domain}.{selector}.dkim.pem")
    save_key(key, path)
    name, value = dns_record(selector, domain, key)
    click.echo(f"private key: {path}")
    click.echo(f"{name}. IN TXT {value}")
