"""The envelope of a message and the per-recipient outcome of its delivery."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbox_store.models import Delivered
from mss.policy import Decision, SessionFacts


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    notify: frozenset[str] = frozenset()  # RFC 3461 NOTIFY
    orcpt: tuple[str, str] | None = None  # RFC 3461 ORCPT (addr-type, address)


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str  # "" is the null reverse-path
    recipients: tuple[Recipient, ...]
    ret: str | None = None  # RFC 3461 RET
    envid: str | None = None  # RFC 3461 ENVID


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message comes from, for policy, trace headers and audit."""

    session: SessionFacts
    session_id: str = ""
    peer: str = ""
    helo: str = ""
    tls: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384"
    protocol: str = "ESMTP"  # Received: with (RFC 3848)
    actor: str | None = None  # authenticated user or peer DN, for audit


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    recipient: Recipient
    decision: Decision
    delivered: Delivered | None = None  # the local copy
    queued: bool = False  # a remote recipient, durably in the outbound queue


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    queue_id: str
    outcomes: tuple[RecipientOutcome, ...] = field(default_factory=tuple)

    @property
    def delivered(self) -> tuple[RecipientOutcome, ...]:
        return tuple(o for o in self.outcomes if o.delivered is not None)

    @property
    def queued(self) -> tuple[RecipientOutcome, ...]:
        return tuple(o for o in self.outcomes if o.queued)

    @property
    def accepted(self) -> tuple[RecipientOutcome, ...]:
        """Stored here or queued for another operator: what a ``250`` stands for."""
        return tuple(o for o in self.outcomes if o.delivered is not None or o.queued)

    @property
    def failed(self) -> tuple[RecipientOutcome, ...]:
        return tuple(o for o in self.outcomes if o.delivered is None and not o.queued)
