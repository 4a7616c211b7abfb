"""What IMAP sessions need from the rest of the operator, built once in the composition root."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config import ImapSettings
from mailbox_store.interfaces import MailboxStore
from mss.audit import AuditLog
from mss.auth import Authenticator
from mss.imap.throttle import LoginThrottle

if TYPE_CHECKING:
    from mss.imap.session import Session


@dataclass
class ImapServices:
    store: MailboxStore
    authenticator: Authenticator  # with the IMAP failure delay
    audit: AuditLog
    settings: ImapSettings
    tls_context: ssl.SSLContext
    sessions: set[Session] = field(default_factory=set)
    throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = LoginThrottle(
            base=self.settings.auth_failure_delay, cap=self.settings.auth_failure_delay_max
        )
