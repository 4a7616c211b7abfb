"""``mss queue``: the outbound queue (messages waiting for other operators)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from mss import queue_admin
from mss.app import Operator
from mss.audit import AuditEvent
from mss.cli.base import CliError, asynchronous, config_option, main, with_operator
from mss.outbound import OutboundQueue


@main.group()
def queue() -> None:
    """The outbound queue: messages waiting for other operators."""


def _queue_of(op: Operator) -> OutboundQueue:
    if op.outbound is None:
        raise CliError("this operator has no outbound queue")
    return op.outbound


@queue.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@asynchronous
async def queue_list(config_path: Path, as_json: bool) -> None:
    """Queued messages, oldest first: id, date, size, sender, recipients, last reply."""
    found = await with_operator(config_path, lambda op: _queue_of(op).list_messages())
    if as_json:
        click.echo(json.dumps([queue_admin.message_json(m) for m in found], indent=2))
        return
    for message in found:
        click.echo(queue_admin.message_line(message))


@queue.command("show")
@config_option
@click.argument("queue_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@asynchronous
async def queue_show(config_path: Path, queue_id: str, as_json: bool) -> None:
    """One queued message's envelope and the state of each recipient (never its content)."""
    found = await with_operator(config_path, lambda op: _queue_of(op).get(queue_id.upper()))
    if found is None:
        raise CliError(f"no queued message {queue_id}")
    if as_json:
        click.echo(json.dumps(queue_admin.message_json(found), indent=2))
        return
    click.echo("\n".join(queue_admin.message_details(found)))


@queue.command("retry")
@config_option
@click.argument("queue_id")
@asynchronous
async def queue_retry(config_path: Path, queue_id: str) -> None:
    """Make a queued message due now (the running workers pick it up at their next scan)."""

    async def retry(op: Operator) -> bool:
        return await _queue_of(op).retry_now(queue_id.upper(), datetime.now(UTC))

    if not await with_operator(config_path, retry):
        raise CliError(f"no queued message {queue_id}")
    click.echo(f"{queue_id.upper()}: due now")


@queue.command("delete")
@config_option
@click.argument("queue_id")
@asynchronous
async def queue_delete(config_path: Path, queue_id: str) -> None:
    """Remove a queued message without any report to its sender."""

    async def remove(op: Operator) -> bool:
        removed = await _queue_of(op).delete(queue_id.upper())
        op.audit.record(
            AuditEvent.ADMIN_ACTION,
            action="queue_delete",
            target=queue_id.upper(),
            result="ok" if removed else "not_found",
        )
        return removed

    if not await with_operator(config_path, remove):
        raise CliError(f"no queued message {queue_id}")
    click.echo(f"{queue_id.upper()}: deleted")
