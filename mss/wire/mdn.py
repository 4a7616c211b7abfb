"""Message disposition notifications: RFC 8098 reports in an RFC 6522 ``multipart/report``.

MSS-MSG-3 relays read receipts untouched; DMP-MDN-1 makes the operator *send* one when a message
asked for it (``Disposition-Notification-To``) and its documents went to the patient's record:
``processed`` when they were filed, ``processed/Error: <code>^<label>`` when they were not.
:func:`build_mdn` renders the whole message (CRLF line ends); the machine-readable part is 7-bit,
so an accented label is folded to ASCII there and kept as written in the human-readable part.
:func:`disposition_notification_to` reads the request from an original message.
"""

from __future__ import annotations

import quopri
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from mss.wire.headers import addresses, fold_chunks, fold_field, header_values, split_message

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]+")
_ANGLE_OR_SPACE = re.compile(r"[<>\s]")
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")
MAX_LABEL_CHARS = 200
SUBJECT = "=?utf-8?q?Accus=C3=A9_de_traitement?= / Disposition notification"  # RFC 2047
MODE = "automatic-action/MDN-sent-automatically"  # RFC 8098 §3.2.6.1/2: no user involved


@dataclass(frozen=True, slots=True)
class Disposition:
    """``processed`` (RFC 8098 §3.2.6.2), with the DMP-MDN-1 error code and label if any."""

    error_code: int | None = None
    error_label: str = ""

    def __post_init__(self) -> None:
        if self.error_code is not None and not 100 <= self.error_code <= 999:
            raise ValueError(f"an MDN error code has 3 digits, not {self.error_code!r}")

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    def field_value(self) -> str:
        """The ``Disposition`` field value: ``…; processed`` or ``…; processed/Error: c^label``."""
        return " ".join(self.field_chunks())

    def field_chunks(self) -> tuple[str, str]:
        """The mode and the type, each kept whole on its line when the field is folded."""
        if self.error_code is None:
            return f"{MODE};", "processed"
        return f"{MODE};", f"processed/Error: {self.error_code}^{ascii_fold(self.error_label)}"


@dataclass(frozen=True, slots=True)
class MdnRequest:
    """What an original message tells about the receipt it asks for."""

    notify_to: str  # the Disposition-Notification-To address
    message_id: str | None  # the original's Message-ID, brackets included


def disposition_notification_to(original: bytes) -> MdnRequest | None:
    """RFC 8098 §2.1: the address an MDN goes to, or None when none (or several) is asked."""
    header, _body = split_message(original)
    values = header_values(header, "Disposition-Notification-To", decode_words=False)
    found = [address for value in values for address in addresses(value)]
    if len(found) != 1:  # (chosen) several addresses: an MDN is not sent automatically
        return None
    ids = header_values(header, "Message-ID", decode_words=False)
    match = _MESSAGE_ID.search(ids[0]) if ids else None
    return MdnRequest(found[0], match.group(0) if match else None)


def ascii_fold(text: str) -> str:
    """One clean ASCII line: accents dropped (``é`` → ``e``), other non-ASCII as ``?``."""
    decomposed = unicodedata.normalize("NFKD", _clean(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.encode("ascii", "replace").decode("ascii")[:MAX_LABEL_CHARS]


def _clean(text: str) -> str:
    return " ".join(_CONTROLS.sub(" ", text).split())


def _bare(address: str) -> str:
    """An address or id without brackets, spaces or controls (no header injection)."""
    return _ANGLE_OR_SPACE.sub("", _CONTROLS.sub("", address))


def build_mdn(
    *,
    reporting_ua: str,
    sender: str,
    recipient: str,
    final_recipient: str,
    original: bytes,
    disposition: Disposition,
    message_id: str,
    now: datetime | None = None,
) -> bytes:
    """An RFC 8098 report to ``recipient`` (the Disposition-Notification-To address).

    ``sender`` is the address the original went to (the patient's mailbox), ``final_recipient``
    the same in the report. The third part holds the original's header block only, never its body
    (health data goes back no further than needed).
    """
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("MDN dates must be timezone-aware")
    request = disposition_notification_to(original)
    original_id = request.message_id if request else None
    boundary = _boundary(original)
    header = _top_header(sender, recipient, message_id, original_id, moment, boundary)
    parts = [
        _human_part(final_recipient, disposition),
        _report_part(reporting_ua, final_recipient, original_id, disposition),
        _headers_part(original),
    ]
    delimiter = b"\r\n--" + boundary + b"\r\n"
    preamble = b"Ceci est un message MIME / This is a MIME message.\r\n--" + boundary + b"\r\n"
    closing = b"\r\n--" + boundary + b"--\r\n"
    return header + b"\r\n" + preamble + delimiter.join(parts) + closing


def _boundary(original: bytes) -> bytes:
    while True:
        boundary = f"=_mss_mdn_{secrets.token_hex(16)}".encode("ascii")
        if boundary not in original:
            return boundary


def _top_header(
    sender: str,
    recipient: str,
    message_id: str,
    original_id: str | None,
    moment: datetime,
    boundary: bytes,
) -> bytes:
    content_type = (
        "multipart/report; report-type=disposition-notification; "
        f'boundary="{boundary.decode("ascii")}"'
    )
    fields = [
        fold_field("From", f"<{_bare(sender)}>"),
        fold_field("To", f"<{_bare(recipient)}>"),
        fold_field("Subject", SUBJECT),
        fold_field("Date", format_datetime(moment)),
        fold_field("Message-ID", f"<{_bare(message_id)}>"),
    ]
    if original_id:
        fields.append(fold_field("In-Reply-To", original_id))
        fields.append(fold_field("References", original_id))
    fields += [
        fold_field("Auto-Submitted", "auto-replied"),  # RFC 3834 §5
        fold_field("MIME-Version", "1.0"),
        fold_field("Content-Type", content_type),
    ]
    return b"".join(fields)


def _human_part(final_recipient: str, disposition: Disposition) -> bytes:
    who = _clean(final_recipient)
    if disposition.failed:
        label = _clean(disposition.error_label)[:MAX_LABEL_CHARS]
        french = (
            f"Les documents de santé de votre message à {who} n'ont pas été versés au dossier "
            f"médical du patient (erreur {disposition.error_code} : {label})."
        )
        english = (
            f"The health documents of your message to {who} were not filed into the patient's "
            f"record (error {disposition.error_code}: {ascii_fold(label)})."
        )
    else:
        french = f"Votre message à {who} a été traité : ses documents sont au dossier du patient."
        english = f"Your message to {who} was processed: its documents are in the patient's record."
    text = f"{french}\n\n{english}\n"
    encoded = quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"Content-Disposition: inline\r\n\r\n" + encoded
    )


def _report_part(
    reporting_ua: str, final_recipient: str, original_id: str | None, disposition: Disposition
) -> bytes:
    """RFC 8098 §3.1: the ``message/disposition-notification`` fields, 7-bit."""
    fields = [
        fold_field("Reporting-UA", f"{ascii_fold(_bare(reporting_ua))}; mss"),
        fold_field("Final-Recipient", f"rfc822; {ascii_fold(_bare(final_recipient))}"),
    ]
    if original_id:
        fields.append(fold_field("Original-Message-ID", original_id))
    fields.append(fold_chunks("Disposition", disposition.field_chunks()))
    if disposition.error_code is not None:  # RFC 8098 §3.2.7, the same words as the disposition
        fields.append(
            fold_field("Error", f"{disposition.error_code}^{ascii_fold(disposition.error_label)}")
        )
    return b"Content-Type: message/disposition-notification\r\n\r\n" + b"".join(fields)


def _headers_part(original: bytes) -> bytes:
    header, _body = split_message(original)
    header = _LINE_ENDS.sub(b"\r\n", header)
    if header.endswith(b"\r\n\r\n"):
        header = header[:-2]
    elif header == b"\r\n":
        header = b""
    encoding = b"7bit" if header.isascii() else b"8bit"
    return (
        b"Content-Type: text/rfc822-headers\r\n"
        b"Content-Transfer-Encoding: " + encoding + b"\r\n"
        b"Content-Disposition: inline\r\n\r\n" + header
    )
