"""The space of trust: the ANS whitelist (MSS-TRUST-1/5) and our DKIM keys."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from directory.whitelist import parse_whitelist
from mss.app import whitelist_refresher
from mss.cli.base import CliError, asynchronous, config_option, load, main, with_operator
from mss.dkim import dns_record, generate_key, save_key


@main.group()
def whitelist() -> None:
    """The ANS whitelist of the space of trust (MSS-TRUST-1)."""


@whitelist.command("import")
@config_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@asynchronous
async def whitelist_import(config_path: Path, file: Path) -> None:
    parsed = parse_whitelist(await asyncio.to_thread(file.read_bytes))
    await with_operator(
        config_path, lambda op: op.directory.replace_whitelist(parsed, datetime.now(UTC))
    )
    domains = len({entry.domain for entry in parsed.entries})
    click.echo(f"whitelist imported: {len(parsed.entries)} entries, {domains} domains")


@whitelist.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@asynchronous
async def whitelist_status(config_path: Path, as_json: bool) -> None:
    """Age, size and source of the list in use, and the last refresh error (MSS-TRUST-5)."""
    report = await with_operator(config_path, lambda op: whitelist_refresher(op).report())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for name, value in report.items():
        shown = "-" if value in (None, "") else value
        if name == "age_seconds" and isinstance(value, int):
            shown = f"{value} ({value / 3600:.1f} h)"
        click.echo(f"{name.replace('_', ' ')}: {shown}")


@whitelist.command("refresh")
@config_option
@click.option("--url", help="HTTPS URL to load from (default: directory.whitelist_url).")
@click.option("--file", "file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Load a list much smaller or older than the current.")
@asynchronous
async def whitelist_refresh(
    config_path: Path, url: str | None, file: Path | None, force: bool
) -> None:
    """Refresh the list now; on failure the last good copy is kept (MSS-TRUST-5)."""
    if url and file:
        raise CliError("give --url or --file, not both")
    source = url or (str(file) if file else load(config_path).directory.whitelist_url)
    if not source:
        raise CliError("no source: give --url or --file, or set directory.whitelist_url")
    result = await with_operator(
        config_path, lambda op: whitelist_refresher(op).refresh(source, force=force)
    )
    if not result.ok:
        raise CliError(f"whitelist not refreshed, last good copy kept: {result.error}")
    click.echo(f"whitelist refreshed: {result.entries} entries")


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
