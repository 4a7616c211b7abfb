"""Per-connection state of an SMTP session, apart from aiosmtpd's own objects."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from mss.auth import Principal
from mss.delivery import Origin, Recipient
from mss.policy import Channel, SessionFacts
from mss.wire.smtp_params import MailParams


@dataclass
class Transaction:
    sender: str
    params: MailParams
    recipients: list[Recipient] = field(default_factory=list)

    def has(self, address: str) -> bool:
        return any(r.address.lower() == address.lower() for r in self.recipients)


@dataclass
class ConnectionState:
    channel: Channel
    peer: str = ""
    session_id: str = field(default_factory=lambda: secrets.token_hex(6))
    helo: str = ""
    tls: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384"
    peer_dn: str | None = None  # normalised, for the policy
    peer_dn_raw: str | None = None  # as presented, for audit
    principal: Principal | None = None
    errors: int = 0
    transaction: Transaction | None = None

    def origin(self) -> Origin:
        facts = SessionFacts(
            channel=self.channel,
            tls=self.tls is not None,
            peer_dn=self.peer_dn,
            user=self.principal.user if self.principal else None,
        )
        return Origin(
            session=facts,
            session_id=self.session_id,
            peer=self.peer,
            helo=self.helo,
            tls=self.tls,
            protocol=self._protocol(),
            actor=self.principal.user if self.principal else self.peer_dn_raw,
        )

    def _protocol(self) -> str:
        """RFC 3848 ``with`` keyword for the Received: line."""
        name = "ESMTP"
        if self.transaction and self.transaction.params.smtputf8:
            name = "UTF8SMTP"
        if self.tls:
            name += "S"
        if self.principal:
            name += "A"
        return name

    def with_principal(self, principal: Principal) -> ConnectionState:
        return replace(self, principal=principal)
