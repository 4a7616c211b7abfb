"""What a rule answers: a verdict, a stable reason and an enhanced status code (RFC 3463)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"  # permanent (5.x.x)
    DEFER = "defer"  # temporary (4.x.x)


class Reason(StrEnum):
    """Stable reason constants: audit records and protocol replies are keyed on them."""

    OK = "ok"
    TLS_REQUIRED = "tls_required"
    CLIENT_CERTIFICATE_REQUIRED = "client_certificate_required"
    SENDER_DOMAIN_NOT_WHITELISTED = "sender_domain_not_whitelisted"
    CERTIFICATE_NOT_LISTED = "certificate_not_listed"
    NULL_SENDER_NOT_ALLOWED = "null_sender_not_allowed"
    AUTHENTICATION_REQUIRED = "authentication_required"
    SENDER_NOT_AUTHORISED = "sender_not_authorised"
    SENDER_SUSPENDED = "sender_suspended"
    SENDER_CLOSED = "sender_closed"
    TOO_MANY_RECIPIENTS = "too_many_recipients"
    RELAY_DENIED = "relay_denied"
    RECIPIENT_DOMAIN_NOT_WHITELISTED = "recipient_domain_not_whitelisted"
    REMOTE_DELIVERY_UNAVAILABLE = "remote_delivery_unavailable"
    RECIPIENT_UNKNOWN = "recipient_unknown"
    RECIPIENT_SUSPENDED = "recipient_suspended"
    RECIPIENT_CLOSED = "recipient_closed"
    NO_REPLY_MAILBOX = "no_reply_mailbox"
    PATIENT_PROFILE_NOT_OPEN = "patient_profile_not_open"
    PATIENT_NOT_AUTHORISED = "patient_not_authorised"
    MESSAGE_TOO_BIG_FOR_PATIENT = "message_too_big_for_patient"
    BARE_LINE_ENDING = "bare_line_ending"
    STORAGE_FAILED = "storage_failed"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: Reason
    status: str  # enhanced status code, e.g. "5.7.1"

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPT

    @staticmethod
    def reject(reason: Reason, status: str) -> Decision:
        return Decision(Verdict.REJECT, reason, status)

    @staticmethod
    def defer(reason: Reason, status: str) -> Decision:
        return Decision(Verdict.DEFER, reason, status)


ACCEPT = Decision(Verdict.ACCEPT, Reason.OK, "2.0.0")
