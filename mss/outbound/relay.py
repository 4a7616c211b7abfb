"""The seam between the outbound queue and the SMTP client that relays to other operators.

The queue's workers hand one message and the recipients of one domain to a ``Relay``; the relay
answers one result per recipient and never raises for a delivery problem (no route, refused
connection, TLS or certificate failure, timeout): those become temporary or permanent results
with a clear text, so that the queue retries or bounces (MSS-TRUST-4 is fail-closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Notify = Literal["NEVER", "SUCCESS", "FAILURE", "DELAY"]


@dataclass(frozen=True, slots=True)
class OutboundRecipient:
    address: str
    notify: frozenset[Notify] | None = None  # None: the peer's default (failures only)
    orcpt: str | None = None  # RFC 3461 ORCPT as received, "rfc822;addr" xtext-decoded


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    queue_id: str
    sender: str  # "" for the null sender (a DSN)
    recipients: tuple[OutboundRecipient, ...]  # all in one domain
    body: bytes  # the message as it leaves us (DKIM-signed when configured)
    envid: str | None = None
    ret: Literal["FULL", "HDRS"] | None = None
    smtputf8: bool = False
    eight_bit: bool = False


@dataclass(frozen=True, slots=True)
class RecipientResult:
    address: str
    code: int  # SMTP reply code; 4xx temporary, 5xx permanent, 250/251 delivered
    enhanced: str  # "2.0.0", "4.4.1", "5.7.1"…
    text: str  # the peer's reply text, or ours for local failures (no route, TLS, DN…)
    remote_host: str = ""  # the host that answered, "" when none did

    @property
    def delivered(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code >= 500


@dataclass(frozen=True, slots=True)
class RelayResult:
    results: tuple[RecipientResult, ...]  # one per recipient, same order
    peer_dsn: bool  # the peer advertised DSN: it will report success itself ("relayed" if not)


class Relay(Protocol):
    async def send(self, domain: str, message: OutboundMessage) -> RelayResult: ...

    async def close(self) -> None:
        """Close pooled connections."""
        ...
