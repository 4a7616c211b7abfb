"""``mss serve``, ``mss demo`` and ``mss config``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from config.example import render_example
from mss import demo as demo_module
from mss.app import Operator, run
from mss.cli.base import announce, config_option, load, main, run_loop


@main.command()
@config_option
def serve(config_path: Path) -> None:
    """Run the operator until SIGINT/SIGTERM."""
    settings = load(config_path)
    logging.getLogger().setLevel(settings.logging.level)
    run_loop(run(settings, ready=announce))


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
    help="Ports are BASE+25 (MX), +587, +465, +143 (IMAP), +993; 0 picks free ports.",
)
def demo(folder: Path, port_base: int) -> None:
    """Create (first run) and serve a self-contained demo operator."""
    created = demo_module.prepare(folder, port_base)
    settings = load(folder / demo_module.CONFIG)

    async def ready(operator: Operator) -> None:
        await demo_module.populate(operator, folder)
        manifest = demo_module.write_manifest(operator, folder)
        click.echo(("Created" if created else "Reusing") + f" the demo operator in {folder}")
        await announce(operator)
        click.echo(f"Accounts, passwords and certificates: {manifest}")
        click.echo("Stop with Ctrl-C.")

    run_loop(run(settings, ready=ready))


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
    load(config_path)
    click.echo(f"{config_path}: OK")
