"""MDN rendering (RFC 8098, MSS-MSG-3, DMP-MDN-1): ``processed``, ``processed/Error: c^label``."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.mdn import Disposition, ascii_fold, build_mdn, disposition_notification_to

ORIGINAL = (
    b"From: Dr Martin <dr.martin@hopital.mssante.fr>\r\n"
    b"To: 279035121518989@patient.mssante.fr\r\n"
    b"Subject: XDM/1.0/DDM+Compte rendu DUPONT Jeanne 19790301\r\n"
    b"Message-ID: <abc.123@hopital.mssante.fr>\r\n"
    b"Disposition-Notification-To: Dr Martin <dr.martin@hopital.mssante.fr>\r\n"
    b"\r\n"
    b"Body with health content that must not come back.\r\n"
)
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _mdn(disposition: Disposition, original: bytes = ORIGINAL) -> EmailMessage:
    raw = build_mdn(
        reporting_ua="mx.mss.test",
        sender="279035121518989@patient.mssante.fr",
        recipient="dr.martin@hopital.mssante.fr",
        final_recipient="279035121518989@patient.mssante.fr",
        original=original,
        disposition=disposition,
        message_id="m1@mx.mss.test",
        now=NOW,
    )
    assert b"\r\n" in raw
    assert raw.count(b"\n") == raw.count(b"\r\n")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _report_fields(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "message/disposition-notification":
            payload = part.get_payload()
            if isinstance(payload, list):
                return "\n".join(str(p) for p in payload)
            return str(payload)
    raise AssertionError("no message/disposition-notification part")


def test_mss_msg_3_processed_mdn_is_an_rfc_8098_report() -> None:
    message = _mdn(Disposition())
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "disposition-notification"
    assert "dr.martin@hopital.mssante.fr" in str(message["To"])
    assert message["In-Reply-To"] == "<abc.123@hopital.mssante.fr>"
    assert message["Auto-Submitted"] == "auto-replied"
    fields = " ".join(_report_fields(message).split())
    assert "Disposition: automatic-action/MDN-sent-automatically; processed" in fields
    assert "Original-Message-ID: <abc.123@hopital.mssante.fr>" in fields
    assert "Final-Recipient: rfc822; 279035121518989@patient.mssante.fr" in fields
    assert "Error:" not in fields


def test_dmp_mdn_1_error_disposition_carries_code_and_label() -> None:
    message = _mdn(Disposition(904, "Traits INS incohérents"))
    fields = _report_fields(message)
    assert (
        "Disposition: automatic-action/MDN-sent-automatically; "
        "processed/Error: 904^Traits INS incoherents"
    ) in " ".join(fields.split())
    human = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert isinstance(human, EmailMessage)
    assert "904 : Traits INS incohérents" in human.get_content()


def test_mdn_returns_headers_only_never_the_body() -> None:
    raw = build_mdn(
        reporting_ua="mx",
        sender="a@b",
        recipient="c@d",
        final_recipient="a@b",
        original=ORIGINAL,
        disposition=Disposition(),
        message_id="x@y",
        now=NOW,
    )
    assert b"Body with health content" not in raw
    assert b"text/rfc822-headers" in raw


def test_machine_part_is_7bit() -> None:
    raw = build_mdn(
        reporting_ua="mx",
        sender="a@b",
        recipient="c@d",
        final_recipient="a@b",
        original=b"Subject: x\r\n\r\n",
        disposition=Disposition(900, "Le document n'est pas la dernière version"),
        message_id="x@y",
        now=NOW,
    )
    report = raw.split(b"message/disposition-notification", 1)[1].split(b"--=_mss_mdn_", 1)[0]
    assert report.isascii()


def test_header_injection_is_neutralised() -> None:
    message = _mdn(Disposition(906, "Autre\r\nBcc: evil@x"))
    assert message["Bcc"] is None
    assert "Bcc: evil@x" not in _report_fields(message).splitlines()


def test_request_reading() -> None:
    request = disposition_notification_to(ORIGINAL)
    assert request is not None
    assert request.notify_to == "dr.martin@hopital.mssante.fr"
    assert request.message_id == "<abc.123@hopital.mssante.fr>"
    assert disposition_notification_to(b"Subject: x\r\n\r\nbody") is None
    two = b"Disposition-Notification-To: a@b.fr, c@d.fr\r\n\r\n"
    assert disposition_notification_to(two) is None


def test_bad_code_and_naive_date_refused() -> None:
    with pytest.raises(ValueError, match="3 digits"):
        Disposition(12)
    with pytest.raises(ValueError, match="aware"):
        build_mdn(
            reporting_ua="mx",
            sender="a@b",
            recipient="c@d",
            final_recipient="a@b",
            original=ORIGINAL,
            disposition=Disposition(),
            message_id="x@y",
            now=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
        )


@given(st.text(max_size=300))
def test_ascii_fold_is_one_ascii_line(text: str) -> None:
    folded = ascii_fold(text)
    assert folded.isascii()
    assert "\r" not in folded
    assert "\n" not in folded


@given(st.binary(max_size=400))
def test_any_original_gives_a_parsable_report(original: bytes) -> None:
    message = _mdn(Disposition(906, "Autre erreur"), original)
    assert "\n processed/Error: 906^Autre erreur\n" in _report_fields(message)
