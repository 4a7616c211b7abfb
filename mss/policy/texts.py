"""What a person is told for each reason: generic, clear, the same on every channel.

Details (which certificate, which rule) go to the log and the audit trail, never to the client.
"""

from __future__ import annotations

from mss.policy.decision import Reason

REASON_TEXT: dict[Reason, str] = {
    Reason.OK: "OK",
    Reason.TLS_REQUIRED: "Must issue a STARTTLS command first",
    Reason.CLIENT_CERTIFICATE_REQUIRED: "A client certificate of a listed operator is required",
    Reason.SENDER_DOMAIN_NOT_WHITELISTED: "Sender domain is not in the MSSante space of trust",
    Reason.CERTIFICATE_NOT_LISTED: "Certificate is not listed for the sender domain",
    Reason.NULL_SENDER_NOT_ALLOWED: "A sender address is required",
    Reason.AUTHENTICATION_REQUIRED: "Authentication required",
    Reason.SENDER_NOT_AUTHORISED: "You may not send as this address",
    Reason.SENDER_SUSPENDED: "Sender mailbox is suspended",
    Reason.SENDER_CLOSED: "Sender mailbox is closed",
    Reason.TOO_MANY_RECIPIENTS: "Too many recipients",
    Reason.RELAY_DENIED: "Relaying denied",
    Reason.RECIPIENT_DOMAIN_NOT_WHITELISTED: (
        "Recipient domain is not in the MSSante space of trust"
    ),
    Reason.REMOTE_DELIVERY_UNAVAILABLE: "Delivery to other operators is not available yet",
    Reason.RECIPIENT_UNKNOWN: "Mailbox unknown",
    Reason.RECIPIENT_SUSPENDED: "Mailbox temporarily unavailable",
    Reason.RECIPIENT_CLOSED: "Mailbox unknown",
    Reason.NO_REPLY_MAILBOX: "This mailbox does not accept replies",
    Reason.PATIENT_PROFILE_NOT_OPEN: "Mailbox unknown",
    Reason.PATIENT_NOT_AUTHORISED: (
        "A patient may only write to a professional who wrote to them first"
    ),
    Reason.MESSAGE_TOO_BIG_FOR_PATIENT: "Message too big for a patient mailbox",
    Reason.BARE_LINE_ENDING: "Bare CR or LF in message data",
    Reason.STORAGE_FAILED: "Message could not be stored",
}
