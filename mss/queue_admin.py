"""What ``mss queue`` shows: the outbound queue as lines or JSON (never a body: health data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mss.outbound import QueuedMessage, QueuedRecipient


def message_json(message: QueuedMessage) -> dict[str, Any]:
    return {
        "queue_id": message.queue_id,
        "sender": message.sender,
        "created_at": _iso(message.created_at),
        "expires_at": _iso(message.expires_at),
        "size": message.size,
        "envid": message.envid,
        "ret": message.ret,
        "recipients": [recipient_json(r) for r in message.recipients],
    }


def recipient_json(rcpt: QueuedRecipient) -> dict[str, Any]:
    return {
        "address": rcpt.address,
        "domain": rcpt.domain,
        "notify": sorted(rcpt.notify) if rcpt.notify is not None else None,
        "orcpt": f"{rcpt.orcpt[0]};{rcpt.orcpt[1]}" if rcpt.orcpt else None,
        "attempts": rcpt.attempts,
        "next_attempt": _iso(rcpt.next_attempt),
        "last_code": rcpt.last_code,
        "last_reply": rcpt.last_reply,
        "delay_notified": rcpt.delay_notified,
    }


def message_line(message: QueuedMessage) -> str:
    """One line per message: id, age, size, sender, recipients, the last reply heard."""
    rcpts = ",".join(r.address for r in message.recipients)
    last = next((r.last_reply for r in message.recipients if r.last_reply), "")
    return "\t".join(
        [
            message.queue_id,
            _iso(message.created_at),
            str(message.size),
            f"<{message.sender}>",
            rcpts,
            last,
        ]
    ).rstrip("\t")


def message_details(message: QueuedMessage) -> list[str]:
    lines = [
        f"queue id:   {message.queue_id}",
        f"sender:     <{message.sender}>",
        f"created:    {_iso(message.created_at)}",
        f"expires:    {_iso(message.expires_at)}",
        f"size:       {message.size}",
    ]
    if message.envid:
        lines.append(f"envid:      {message.envid}")
    if message.ret:
        lines.append(f"ret:        {message.ret}")
    for rcpt in message.recipients:
        lines.append(
            f"recipient:  {rcpt.address} attempts={rcpt.attempts} "
            f"next={_iso(rcpt.next_attempt)}"
            + (f" last={rcpt.last_reply}" if rcpt.last_reply else "")
        )
    return lines


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
