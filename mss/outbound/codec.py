"""Rows of the queue tables to and from the queue's dataclasses (pure, shared by SQL code)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import RowMapping

from mss.outbound.models import NewMessage, NewRecipient, QueuedMessage, QueuedRecipient, Ret


def notify_text(notify: frozenset[str] | None) -> str | None:
    return None if notify is None else ",".join(sorted(notify))


def notify_set(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    return frozenset(word for word in text.split(",") if word)


def message_row(message: NewMessage, sealed: bytes) -> dict[str, Any]:
    return {
        "queue_id": message.queue_id,
        "sender": message.sender,
        "envid": message.envid,
        "ret": message.ret,
        "smtputf8": message.smtputf8,
        "eight_bit": message.eight_bit,
        "created_at": message.created_at,
        "expires_at": message.expires_at,
        "size": len(message.body),
        "body": sealed,
    }


def recipient_row(message: NewMessage, rcpt: NewRecipient) -> dict[str, Any]:
    held = message.lease
    return {
        "queue_id": message.queue_id,
        "address": rcpt.address,
        "domain": rcpt.domain,
        "notify": notify_text(rcpt.notify),
        "orcpt_type": rcpt.orcpt[0] if rcpt.orcpt else None,
        "orcpt": rcpt.orcpt[1] if rcpt.orcpt else None,
        "next_attempt": held.until if held else message.created_at,
        "attempts": 0,
        "last_code": None,
        "last_reply": None,
        "delay_notified": False,
        "lease": held.token if held else None,
    }


def recipient_of(row: RowMapping) -> QueuedRecipient:
    orcpt = (row["orcpt_type"], row["orcpt"]) if row["orcpt"] is not None else None
    return QueuedRecipient(
        id=row["id"],
        queue_id=row["queue_id"],
        address=row["address"],
        domain=row["domain"],
        notify=notify_set(row["notify"]),
        orcpt=orcpt,
        next_attempt=row["next_attempt"],
        attempts=row["attempts"],
        last_code=row["last_code"],
        last_reply=row["last_reply"],
        delay_notified=row["delay_notified"],
    )


def message_of(row: RowMapping, recipients: tuple[QueuedRecipient, ...]) -> QueuedMessage:
    return QueuedMessage(
        queue_id=row["queue_id"],
        sender=row["sender"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        size=row["size"],
        recipients=recipients,
        envid=row["envid"],
        ret=cast(Ret | None, row["ret"]),
        smtputf8=row["smtputf8"],
        eight_bit=row["eight_bit"],
    )


def body_aad(queue_id: str) -> str:
    """What a sealed queue body is bound to (a body moved under another id fails to open)."""
    return f"outbound:{queue_id}"
