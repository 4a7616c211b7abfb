"""The one module that maps decisions and errors to SMTP replies, all with enhanced codes
(RFC 2034, RFC 3463)."""

from __future__ import annotations

import re

from mss.policy import Decision
from mss.policy.texts import REASON_TEXT
from mss.wire.smtp_codes import basic_code

ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(\s|$)")

# Enhanced codes for replies aiosmtpd writes itself without one.
DEFAULT_ENHANCED: dict[str, str] = {
    "220": "2.0.0",
    "221": "2.0.0",
    "235": "2.7.0",
    "250": "2.0.0",
    "421": "4.7.0",
    "450": "4.0.0",
    "451": "4.3.0",
    "452": "4.5.3",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "535": "5.7.8",
    "538": "5.7.11",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.7.0",
    "555": "5.5.4",
}

SYNTAX_ERRORS = frozenset({"500", "501", "502", "503", "504", "535", "555"})

OK_SENDER = "250 2.1.0 Sender OK"
OK_RECIPIENT = "250 2.1.5 Recipient OK"
NESTED_MAIL = "503 5.5.1 Nested MAIL command"
NEED_MAIL = "503 5.5.1 Need MAIL command first"
NEED_RECIPIENTS = "503 5.5.1 Need RCPT command first"
READY_FOR_TLS = "220 2.0.0 Ready to start TLS"
TLS_UNAVAILABLE = "454 4.7.0 TLS not available"
START_DATA = "354 End data with <CR><LF>.<CR><LF>"
LINE_TOO_LONG = "500 5.5.6 Line too long (RFC 5321 4.5.3.1.6)"
TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
NEEDS_SMTPUTF8 = "553 5.6.7 Non-ASCII address requires SMTPUTF8"
SERVER_ERROR = "451 4.3.0 Internal error, try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"
TOO_MANY_ERRORS = "421 4.7.0 Too many errors, closing connection"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_FAILED = "535 5.7.8 Authentication credentials invalid"
AUTH_MALFORMED = "501 5.5.2 Malformed authentication data"


def for_decision(decision: Decision) -> str:
    text = REASON_TEXT[decision.reason]
    return f"{basic_code(decision.status)} {decision.status} {text}"


def syntax_error(detail: str) -> str:
    return f"501 5.5.4 Syntax error: {_printable(detail)}"


def unknown_parameter(detail: str) -> str:
    return f"555 5.5.4 {_printable(detail)}"


def queued(queue_id: str) -> str:
    return f"250 2.0.0 Ok: stored as {queue_id}"


def with_enhanced_code(line: str) -> str:
    """Add the enhanced code a reply lacks; leave 3xx and well-formed replies alone."""
    code, sep, text = line.partition(" ")
    if len(code) != 3 or not code.isdigit() or code[0] == "3" or ENHANCED.match(text):
        return line
    enhanced = DEFAULT_ENHANCED.get(code, f"{code[0]}.0.0")
    return f"{code} {enhanced} {text}" if sep else f"{code} {enhanced}"


def is_client_error(line: str) -> bool:
    return line[:3] in SYNTAX_ERRORS


def _printable(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)[:200]
