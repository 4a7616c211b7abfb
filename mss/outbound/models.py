"""What the outbound queue holds: messages for other operators and their pending recipients.

A message is stored once with its body sealed; each recipient is a row of its own with its
delivery state, so that one recipient may be delivered while another of the same message waits.
Recipients leave the queue when delivered or bounced; a message leaves with its last recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Ret = Literal["FULL", "HDRS"]


@dataclass(frozen=True, slots=True)
class NewRecipient:
    address: str
    notify: frozenset[str] | None = None  # RFC 3461 NOTIFY; None: not given (the default)
    orcpt: tuple[str, str] | None = None  # RFC 3461 ORCPT (addr-type, decoded address)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to enqueue: the envelope and the bytes as they will leave us."""

    queue_id: str
    sender: str  # "" for the null sender (a DSN): never reported on (MSS-MSG-2)
    recipients: tuple[NewRecipient, ...]
    body: bytes
    created_at: datetime
    expires_at: datetime
    envid: str | None = None
    ret: Ret | None = None
    smtputf8: bool = False
    eight_bit: bool = False
    lease: Lease | None = None  # stored already held by this node's worker (hand-off)


@dataclass(frozen=True, slots=True)
class Lease:
    """A hold on recipients: nobody else claims them before ``until``."""

    token: str
    until: datetime


@dataclass(frozen=True, slots=True)
class QueuedRecipient:
    id: int
    queue_id: str
    address: str
    domain: str
    notify: frozenset[str] | None
    orcpt: tuple[str, str] | None
    next_attempt: datetime
    attempts: int = 0
    last_code: int | None = None
    last_reply: str | None = None  # the last reply heard (or our reason), for the CLI and DSNs
    delay_notified: bool = False


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message's envelope and state, without its body (listing the queue reads no body)."""

    queue_id: str
    sender: str
    created_at: datetime
    expires_at: datetime
    size: int
    recipients: tuple[QueuedRecipient, ...]
    envid: str | None = None
    ret: Ret | None = None
    smtputf8: bool = False
    eight_bit: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    """Claimed work: one message and its due recipients in one domain, held under ``lease``.

    Until ``lease_expires`` nobody else claims these recipients; a worker that dies holding
    them lets them come due again then (at-least-once delivery, never a loss).
    """

    message: QueuedMessage
    domain: str
    recipients: tuple[QueuedRecipient, ...]
    body: bytes
    lease: str
    lease_expires: datetime


@dataclass(frozen=True, slots=True)
class Done:
    """The recipient leaves the queue: delivered, or bounced (its DSN already sent)."""

    recipient_id: int
    lease: str


@dataclass(frozen=True, slots=True)
class Retry:
    """The recipient stays, due again at ``next_attempt``."""

    recipient_id: int
    lease: str
    next_attempt: datetime
    code: int | None
    reply: str
    delay_notified: bool = False


Settlement = Done | Retry
