"""Delivery status notifications: RFC 3464 reports in an RFC 6522 ``multipart/report``.

MSS-MSG-2: the MSSanté "accusé de réception" *is* the DSN. :func:`build_dsn` renders the whole
report message (CRLF line ends, 7-bit except an 8-bit original); :func:`wants` says whether the
sender's ``NOTIFY`` (RFC 3461 §4.1) asks for a report of a given action.
"""

from __future__ import annotations

import quopri
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from mss.wire.headers import fold_chunks, fold_field, has_bare_line_ending, split_message
from mss.wire.smtp_params import (
    NOTIFY_NEVER,
    MailParams,
    RcptParams,
    utf8_addr_xtext_encode,
    xtext_encode,
)

ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
DEFAULT_NOTIFY = frozenset({"FAILURE", "DELAY"})  # RFC 3461 §4.1, our choice of the default
_EVENT_OF_ACTION = {
    "delivered": "SUCCESS",
    "relayed": "SUCCESS",
    "expanded": "SUCCESS",
    "failed": "FAILURE",
    "delayed": "DELAY",
}
_STATUS = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")  # RFC 3463
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]+")
_ANGLE_OR_SPACE = re.compile(r"[<>\s]")
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
MAX_DIAGNOSTIC_CHARS = 900  # RFC 5322 §2.1.1: lines stay under 998 octets

_SUBJECTS = {
    "failed": "Non remis / Undelivered Mail Returned to Sender",
    "delayed": "Remise retardee / Delayed Mail (still trying)",
    "success": "Remis / Delivery Notification",
}
_FRENCH = {
    "failed": "n'a pas pu être remis (échec définitif)",
    "delayed": "n'a pas encore pu être remis ; de nouvelles tentatives sont en cours",
    "delivered": "a été remis",
    "relayed": "a été transmis à un serveur qui ne renverra pas d'avis de remise",
    "expanded": "a été remis à une liste de diffusion",
}
_ENGLISH = {
    "failed": "could not be delivered (permanent failure)",
    "delayed": "has not been delivered yet; delivery is still being attempted",
    "delivered": "was delivered",
    "relayed": "was relayed to a server that will not send a delivery notification",
    "expanded": "was delivered to a mailing list",
}


@dataclass(frozen=True)
class RecipientReport:
    """What happened to one recipient (RFC 3464 §2.3)."""

    final_recipient: str
    action: str  # one of ACTIONS
    status: str  # RFC 3463, e.g. "5.1.1"
    original_recipient: tuple[str, str] | None = None  # (addr-type, address) from ORCPT
    diagnostic: str | None = None  # the SMTP reply, e.g. "550 5.7.1 ..."
    remote_mta: str | None = None
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown DSN action {self.action!r}")
        if not _STATUS.fullmatch(self.status):
            raise ValueError(f"bad DSN status {self.status!r}")
        _require_aware(self.last_attempt, self.will_retry_until)


@dataclass(frozen=True)
class DsnRequest:
    """What the sender asked for in MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT). MSS-MSG-2."""

    notify: frozenset[str]
    ret: str | None
    envid: str | None
    orcpt: tuple[str, str] | None

    @classmethod
    def from_params(cls, mail: MailParams, rcpt: RcptParams) -> DsnRequest:
        return cls(notify=rcpt.notify, ret=mail.ret, envid=mail.envid, orcpt=rcpt.orcpt)

    def wants(self, action: str) -> bool:
        return wants(self.notify, action)


def wants(notify: frozenset[str], action: str) -> bool:
    """Whether ``NOTIFY`` asks for a report of ``action``; empty = FAILURE,DELAY. MSS-MSG-2."""
    if NOTIFY_NEVER in notify:
        return False
    event = _EVENT_OF_ACTION.get(action)
    return event is not None and event in (notify or DEFAULT_NOTIFY)


def _require_aware(*moments: datetime | None) -> None:
    for moment in moments:
        if moment is not None and moment.tzinfo is None:
            raise ValueError("DSN dates must be timezone-aware")


def _clean(text: str) -> str:
    """One line of text: control characters (CR and LF included) become single spaces."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def _bare(address: str) -> str:
    """An address or id without brackets, spaces or controls (no header injection)."""
    return _ANGLE_OR_SPACE.sub("", _CONTROLS.sub("", address))


def _ascii(text: str) -> str:
    """7-bit text for the delivery-status part (RFC 3464 §2.1): non-ASCII becomes ``?``."""
    return text.encode("ascii", "replace").decode("ascii")


def _fitted(text: str) -> str:
    """Clean text truncated so that even one long word keeps its line under 998 octets."""
    return _clean(text)[:MAX_DIAGNOSTIC_CHARS]


# --- the message ---------------------------------------------------------------------------


def build_dsn(
    *,
    reporting_mta: str,
    postmaster: str,
    recipient: str,
    original: bytes,
    reports: Sequence[RecipientReport],
    envid: str | None,
    ret: str | None,
    arrival: datetime,
    message_id: str,
    now: datetime | None = None,
) -> bytes:
    """A complete RFC 3464 / RFC 6522 report message to ``recipient`` (the envelope sender).

    ``ret == "FULL"`` attaches the whole original; otherwise only its header block (the safer
    default for health data). The original itself is never altered, only its line ends.
    """
    if not reports:
        raise ValueError("a DSN needs at least one recipient report")
    moment = now if now is not None else datetime.now(UTC)
    _require_aware(arrival, moment)
    mta = _bare(reporting_mta)
    boundary = _boundary(original)
    header = _top_header(postmaster, recipient, reports, message_id, moment, boundary)
    parts = [
        _human_part(mta, reports, arrival),
        _status_part(mta, reports, envid, arrival),
        _original_part(original, ret),
    ]
    delimiter = b"\r\n--" + boundary + b"\r\n"
    preamble = b"Ceci est un message MIME / This is a MIME message.\r\n--" + boundary + b"\r\n"
    closing = b"\r\n--" + boundary + b"--\r\n"
    return header + b"\r\n" + preamble + delimiter.join(parts) + closing


def _boundary(original: bytes) -> bytes:
    while True:
        boundary = f"=_mss_dsn_{secrets.token_hex(16)}".encode("ascii")
        if boundary not in original:
            return boundary


def _subject(reports: Sequence[RecipientReport]) -> str:
    actions = {report.action for report in reports}
    if "failed" in actions:
        return _SUBJECTS["failed"]
    if "delayed" in actions:
        return _SUBJECTS["delayed"]
    return _SUBJECTS["success"]


def _top_header(
    postmaster: str,
    recipient: str,
    reports: Sequence[RecipientReport],
    message_id: str,
    moment: datetime,
    boundary: bytes,
) -> bytes:
    content_type = (
        f'multipart/report; report-type=delivery-status; boundary="{boundary.decode("ascii")}"'
    )
    return b"".join(
        [
            fold_field("From", f"Mail Delivery System <{_bare(postmaster)}>"),
            fold_field("To", f"<{_bare(recipient)}>"),
            fold_field("Subject", _subject(reports)),
            fold_field("Date", format_datetime(moment)),
            fold_field("Message-ID", f"<{_bare(message_id)}>"),
            fold_field("Auto-Submitted", "auto-replied"),  # RFC 3834 §5
            fold_field("MIME-Version", "1.0"),
            fold_field("Content-Type", content_type),
        ]
    )


# --- part 1: the human-readable text -------------------------------------------------------


def _human_part(mta: str, reports: Sequence[RecipientReport], arrival: datetime) -> bytes:
    lines = [
        f"Ceci est un avis automatique du serveur de messagerie {mta} concernant",
        f"votre message reçu le {format_datetime(arrival)}.",
        "",
        *(line for report in reports for line in _french_lines(report)),
        "",
        f"This is an automatic notice from the mail server {mta} about",
        f"your message received on {format_datetime(arrival)}.",
        "",
        *(line for report in reports for line in _english_lines(report)),
    ]
    text = "\n".join(lines) + "\n"
    encoded = quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"Content-Disposition: inline\r\n\r\n" + encoded
    )


def _french_lines(report: RecipientReport) -> list[str]:
    lines = [
        f"- {_clean(report.final_recipient)} : {_FRENCH[report.action]} (statut {report.status})"
    ]
    if report.diagnostic:
        lines.append(f"  Réponse du serveur distant : {_fitted(report.diagnostic)}")
    if report.will_retry_until is not None:
        lines.append(f"  Nouvelles tentatives jusqu'au {format_datetime(report.will_retry_until)}")
    return lines


def _english_lines(report: RecipientReport) -> list[str]:
    lines = [
        f"- {_clean(report.final_recipient)}: {_ENGLISH[report.action]} (status {report.status})"
    ]
    if report.diagnostic:
        lines.append(f"  The remote server said: {_fitted(report.diagnostic)}")
    if report.will_retry_until is not None:
        lines.append(f"  Attempts will go on until {format_datetime(report.will_retry_until)}")
    return lines


# --- part 2: message/delivery-status -------------------------------------------------------


def _address_field(addr_type: str, address: str) -> str:
    """``type; address`` in 7-bit: a non-ASCII address uses the RFC 6533 ``utf-8`` type."""
    clean = _bare(address)
    if clean.isascii():
        kind = _ascii(_bare(addr_type)).lower() or "rfc822"
        return f"{kind}; {clean}"
    return f"utf-8; {utf8_addr_xtext_encode(clean)}"


def _envelope_id(envid: str) -> str:
    """RFC 3464 §2.2.1: the decoded ENVID; xtext when it is not plain printable ASCII."""
    if envid.isascii() and envid.isprintable() and envid == envid.strip():
        return envid
    return xtext_encode(envid)


def _status_part(
    mta: str, reports: Sequence[RecipientReport], envid: str | None, arrival: datetime
) -> bytes:
    per_message = [fold_field("Reporting-MTA", f"dns; {_ascii(mta)}")]
    if envid:
        envelope_id = _envelope_id(envid)  # one chunk: its inner spaces are kept as they are
        per_message.append(fold_chunks("Original-Envelope-Id", [envelope_id]))
    per_message.append(fold_field("Arrival-Date", format_datetime(arrival)))
    groups = [b"".join(per_message)] + [_recipient_fields(report) for report in reports]
    return b"Content-Type: message/delivery-status\r\n\r\n" + b"\r\n".join(groups)


def _recipient_fields(report: RecipientReport) -> bytes:
    fields: list[bytes] = []
    if report.original_recipient is not None:
        fields.append(fold_field("Original-Recipient", _address_field(*report.original_recipient)))
    fields.append(fold_field("Final-Recipient", _address_field("rfc822", report.final_recipient)))
    fields.append(fold_field("Action", report.action))
    fields.append(fold_field("Status", report.status))
    if report.remote_mta:
        fields.append(fold_field("Remote-MTA", f"dns; {_ascii(_bare(report.remote_mta))}"))
    if report.diagnostic:
        fields.append(fold_field("Diagnostic-Code", f"smtp; {_ascii(_fitted(report.diagnostic))}"))
    if report.last_attempt is not None:
        fields.append(fold_field("Last-Attempt-Date", format_datetime(report.last_attempt)))
    if report.will_retry_until is not None:
        fields.append(fold_field("Will-Retry-Until", format_datetime(report.will_retry_until)))
    return b"".join(fields)


# --- part 3: the original ------------------------------------------------------------------


def _original_part(original: bytes, ret: str | None) -> bytes:
    data = _LINE_ENDS.sub(b"\r\n", original) if has_bare_line_ending(original) else original
    if ret is not None and ret.upper() == "FULL":
        content_type, content = b"message/rfc822", data
    else:
        content_type, content = b"text/rfc822-headers", _header_lines(data)
    encoding = b"7bit" if content.isascii() else b"8bit"
    return (
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Transfer-Encoding: " + encoding + b"\r\n"
        b"Content-Disposition: inline\r\n\r\n" + content
    )


def _header_lines(data: bytes) -> bytes:
    """The header block without its final blank line."""
    header, _body = split_message(data)
    if header.endswith(b"\r\n\r\n"):
        return header[:-2]
    if header == b"\r\n":
        return b""
    return header
