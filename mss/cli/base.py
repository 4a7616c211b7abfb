"""What every ``mss`` command shares: the group, one-line errors, the config option, the
operator opened for one command, and the event loop."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import uvloop

from config import ConfigError, Settings, load_settings
from directory.errors import DirectoryError
from mss.app import Operator, open_operator
from mss.malloc import tune_allocator

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


def load(path: Path) -> Settings:
    return load_settings(path)


async def with_operator(path: Path, action: Callable[[Operator], Awaitable[R]]) -> R:
    async with open_operator(load(path)) as operator:
        return await action(operator)


@click.group(cls=Cli)
def main() -> None:
    """mss: an MSSanté secure health messaging operator."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Serve on uvloop: libuv's event loop with TLS in C, about twice asyncio's throughput."""
    tune_allocator()  # issue 3: memory of idle TLS connections (mss/malloc.py)
    uvloop.run(main)


async def announce(operator: Operator) -> None:
    for name, listener in operator.listeners.items():
        click.echo(f"{name}: {listener.host}:{listener.port}")
