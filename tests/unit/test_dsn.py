"""RFC 3464 delivery status notifications in RFC 6522 multipart/report (MSS-MSG-2)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.dsn import DsnRequest, RecipientReport, build_dsn, wants
from mss.wire.headers import has_bare_line_ending
from mss.wire.smtp_params import parse_mail_params, parse_rcpt_params, xtext_encode

ARRIVAL = datetime(2025, 3, 13, 9, 0, 0, tzinfo=UTC)
NOW = ARRIVAL + timedelta(hours=1)
ORIGINAL = (
    b"From: Dr Martin <martin@hopital.example.fr>\r\n"
    b"To: patient@patient.mssante.fr\r\n"
    b"Subject: Compte rendu\r\n"
    b"Message-ID: <orig-1@hopital.example.fr>\r\n"
    b"\r\n"
    b"Contenu medical confidentiel\r\n"
)
FAILED = RecipientReport(
    final_recipient="patient@patient.mssante.fr",
    action="failed",
    status="5.1.1",
    original_recipient=("rfc822", "Patient@patient.mssante.fr"),
    diagnostic="550 5.1.1 mailbox unavailable",
    remote_mta="mx.patient.mssante.fr",
    last_attempt=NOW,
)
DELAYED = RecipientReport(
    final_recipient="dr.b@clinique.example.fr",
    action="delayed",
    status="4.4.1",
    diagnostic="421 4.4.1 connection timed out",
    last_attempt=NOW,
    will_retry_until=ARRIVAL + timedelta(days=5),
)
DELIVERED = RecipientReport(
    final_recipient="dr.c@cabinet.example.fr", action="delivered", status="2.0.0"
)


def _build(
    reports: list[RecipientReport] | None = None,
    *,
    original: bytes = ORIGINAL,
    envid: str | None = "ENV-42",
    ret: str | None = None,
) -> bytes:
    return build_dsn(
        reporting_mta="mx.mss.example.fr",
        postmaster="postmaster@mss.example.fr",
        recipient="martin@hopital.example.fr",
        original=original,
        reports=reports if reports is not None else [FAILED, DELAYED],
        envid=envid,
        ret=ret,
        arrival=ARRIVAL,
        message_id="dsn-1@mss.example.fr",
        now=NOW,
    )


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _parts(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_parts())  # type: ignore[arg-type]


def _status_blocks(message: EmailMessage) -> list[Message]:
    status = _parts(message)[1]
    assert status.get_content_type() == "message/delivery-status"
    payload = status.get_payload()
    assert isinstance(payload, list)
    blocks = [block for block in payload if isinstance(block, Message)]
    assert len(blocks) == len(payload)
    return blocks


# --- structure -----------------------------------------------------------------------------


def test_dsn_parses_back_as_multipart_report() -> None:
    """MSS-MSG-2: the report is an RFC 6522 multipart/report with the three parts."""
    message = _parse(_build())
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    assert [part.get_content_type() for part in _parts(message)] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert not message.defects
    assert all(not part.defects for part in _parts(message))


def test_dsn_top_header_fields() -> None:
    message = _parse(_build())
    assert message["From"].addresses[0].addr_spec == "postmaster@mss.example.fr"
    assert message["From"].addresses[0].display_name == "Mail Delivery System"
    assert message["To"].addresses[0].addr_spec == "martin@hopital.example.fr"
    assert message["Message-ID"] == "<dsn-1@mss.example.fr>"
    assert message["Auto-Submitted"] == "auto-replied"  # RFC 3834
    assert message["MIME-Version"] == "1.0"
    assert message["Date"].datetime == NOW


@pytest.mark.parametrize(
    ("reports", "subject_start"),
    [
        ([FAILED, DELAYED, DELIVERED], "Non remis / Undelivered"),
        ([DELAYED, DELIVERED], "Remise retardee / Delayed"),
        ([DELIVERED], "Remis / Delivery"),
    ],
)
def test_dsn_subject_by_case_without_the_original_subject(
    reports: list[RecipientReport], subject_start: str
) -> None:
    subject = _parse(_build(reports))["Subject"]
    assert subject.startswith(subject_start)
    assert "Compte rendu" not in subject


def test_dsn_per_message_fields() -> None:
    per_message = _status_blocks(_parse(_build()))[0]
    assert per_message["Reporting-MTA"] == "dns; mx.mss.example.fr"
    assert per_message["Original-Envelope-Id"] == "ENV-42"
    assert per_message["Arrival-Date"] == "Thu, 13 Mar 2025 09:00:00 +0000"


def test_dsn_lists_every_recipient_with_its_fields() -> None:
    """MSS-MSG-2: one per-recipient group per report, in order."""
    blocks = _status_blocks(_parse(_build([FAILED, DELAYED, DELIVERED])))
    assert len(blocks) == 4
    failed, delayed, delivered = blocks[1:]
    assert failed["Final-Recipient"] == "rfc822; patient@patient.mssante.fr"
    assert failed["Original-Recipient"] == "rfc822; Patient@patient.mssante.fr"
    assert failed["Action"] == "failed"
    assert failed["Status"] == "5.1.1"
    assert failed["Remote-MTA"] == "dns; mx.patient.mssante.fr"
    assert failed["Diagnostic-Code"] == "smtp; 550 5.1.1 mailbox unavailable"
    assert failed["Last-Attempt-Date"] == "Thu, 13 Mar 2025 10:00:00 +0000"
    assert failed["Will-Retry-Until"] is None
    assert delayed["Action"] == "delayed"
    assert delayed["Status"] == "4.4.1"
    assert delayed["Will-Retry-Until"] == "Tue, 18 Mar 2025 09:00:00 +0000"
    assert delayed["Original-Recipient"] is None
    assert delivered["Final-Recipient"] == "rfc822; dr.c@cabinet.example.fr"
    assert delivered["Action"] == "delivered"
    assert delivered["Diagnostic-Code"] is None


def test_dsn_human_text_french_then_english() -> None:
    text = _parts(_parse(_build()))[0]
    assert text.get_content_charset() == "utf-8"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    content = text.get_content()
    assert content.index("échec définitif") < content.index("permanent failure")
    assert "patient@patient.mssante.fr" in content
    assert "550 5.1.1 mailbox unavailable" in content
    assert "5.1.1" in content
    assert "4.4.1" in content
    assert "Tue, 18 Mar 2025 09:00:00 +0000" in content


# --- the original: RET=FULL vs HDRS --------------------------------------------------------


@pytest.mark.parametrize("ret", [None, "HDRS"])
def test_dsn_headers_only_by_default(ret: str | None) -> None:
    """MSS-MSG-2: without RET=FULL only the header block goes back (health data stays out)."""
    raw = _build(ret=ret)
    assert b"Contenu medical confidentiel" not in raw
    attached = _parts(_parse(raw))[2]
    assert attached.get_content_type() == "text/rfc822-headers"
    content = attached.get_content()
    assert "Subject: Compte rendu" in content
    assert "Message-ID: <orig-1@hopital.example.fr>" in content


def test_dsn_ret_full_attaches_the_whole_original() -> None:
    raw = _build(ret="FULL")
    attached = _parts(_parse(raw))[2]
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] == "7bit"
    inner = attached.get_content()
    assert isinstance(inner, EmailMessage)
    assert inner["Subject"] == "Compte rendu"
    assert inner.get_content() == "Contenu medical confidentiel\r\n"
    assert ORIGINAL in raw  # byte for byte


def test_dsn_ret_full_8bit_original_is_marked_8bit() -> None:
    original = ORIGINAL.replace(b"confidentiel", "confidentiel é".encode())
    raw = _build(ret="FULL", original=original)
    attached = _parts(_parse(raw))[2]
    assert attached["Content-Transfer-Encoding"] == "8bit"
    assert original in raw


def test_dsn_only_the_attached_original_may_be_8bit() -> None:
    original = ORIGINAL.replace(b"Compte rendu", "Compte rendu é".encode())
    raw = _build(ret="HDRS", original=original)
    header_part_start = raw.index(b"Content-Type: text/rfc822-headers")
    assert raw[:header_part_start].isascii()
    assert _parts(_parse(raw))[2]["Content-Transfer-Encoding"] == "8bit"


# --- line ends, envid, injection -----------------------------------------------------------


@pytest.mark.parametrize("ret", [None, "FULL"])
def test_dsn_has_no_bare_line_ending(ret: str | None) -> None:
    """MSS-MSG-5: even an original with bare LF or CR gives a CRLF-only report."""
    original = b"Subject: x\nX-A: y\r\rZ: w\r\n\nbody\nmore\r"
    raw = _build(original=original, ret=ret)
    assert not has_bare_line_ending(raw)
    assert raw.endswith(b"--\r\n")


def test_dsn_lines_stay_short() -> None:
    raw = _build([FAILED, DELAYED, DELIVERED], ret="FULL")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    header, _, _ = raw.partition(b"\r\n\r\n")
    assert max(len(line) for line in header.split(b"\r\n")) <= 78


@given(
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="?"),
        min_size=1,
        max_size=100,
    )
)
def test_dsn_envid_round_trip(envid: str) -> None:
    """MSS-MSG-2: ENVID comes back in Original-Envelope-Id as given (decoded)."""
    blocks = _status_blocks(_parse(_build(envid=envid)))
    expected = envid if envid == envid.strip() else xtext_encode(envid)
    assert blocks[0]["Original-Envelope-Id"] == expected


def test_dsn_without_envid_has_no_envelope_id_field() -> None:
    assert _status_blocks(_parse(_build(envid=None)))[0]["Original-Envelope-Id"] is None


def test_dsn_non_ascii_envid_is_xtext() -> None:
    blocks = _status_blocks(_parse(_build(envid="dossier-é")))
    assert blocks[0]["Original-Envelope-Id"] == "dossier-+C3+A9"


def test_dsn_non_ascii_recipient_uses_the_utf8_address_type() -> None:
    """RFC 6533 §3: the delivery-status part stays 7-bit."""
    report = RecipientReport(
        final_recipient="jérôme@hôpital.example.fr", action="failed", status="5.1.1"
    )
    raw = _build([report])
    blocks = _status_blocks(_parse(raw))
    assert blocks[1]["Final-Recipient"] == "utf-8; j\\x{E9}r\\x{F4}me@h\\x{F4}pital.example.fr"
    status_start = raw.index(b"Content-Type: message/delivery-status")
    status_end = raw.index(b"Content-Type: text/rfc822-headers")
    assert raw[status_start:status_end].isascii()


def test_dsn_diagnostic_cannot_inject_fields() -> None:
    report = RecipientReport(
        final_recipient="a@example.fr\r\nAction: delivered",
        action="failed",
        status="5.0.0",
        diagnostic="550 nope\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; x@y",
        remote_mta="mx\r\nStatus: 2.0.0",
    )
    blocks = _status_blocks(_parse(_build([report])))
    assert len(blocks) == 2
    assert blocks[1].get_all("Action") == ["failed"]
    assert blocks[1].get_all("Status") == ["5.0.0"]
    assert blocks[1].get_all("Final-Recipient") == ["rfc822; a@example.frAction:delivered"]


def test_dsn_long_diagnostic_is_folded_and_capped() -> None:
    report = RecipientReport(
        final_recipient="a@example.fr", action="failed", status="5.0.0", diagnostic="word " * 400
    )
    raw = _build([report])
    code = _status_blocks(_parse(raw))[1]["Diagnostic-Code"]
    assert code.startswith("smtp; word word")
    assert len(code) <= 910
    status_part = raw[raw.index(b"Reporting-MTA") : raw.index(b"text/rfc822-headers")]
    assert max(len(line) for line in status_part.split(b"\r\n")) <= 78


def test_dsn_boundary_never_in_the_original() -> None:
    raw = _build(ret="FULL")
    boundary = re.search(rb'boundary="([^"]+)"', raw)
    assert boundary is not None
    assert boundary[1] not in ORIGINAL
    assert raw.count(b"--" + boundary[1]) == 4


# --- refusals ------------------------------------------------------------------------------


def test_dsn_needs_reports() -> None:
    with pytest.raises(ValueError, match="at least one"):
        _build([])


def test_dsn_refuses_naive_dates() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_dsn(
            reporting_mta="mx",
            postmaster="postmaster@x.fr",
            recipient="a@x.fr",
            original=ORIGINAL,
            reports=[FAILED],
            envid=None,
            ret=None,
            arrival=datetime(2025, 1, 1),  # noqa: DTZ001 - the point of the test
            message_id="m@x.fr",
        )


@pytest.mark.parametrize(
    ("action", "status"), [("bounced", "5.0.0"), ("failed", "5.1"), ("failed", "6.0.0")]
)
def test_recipient_report_validates(action: str, status: str) -> None:
    with pytest.raises(ValueError, match="DSN"):
        RecipientReport(final_recipient="a@x.fr", action=action, status=status)


# --- NOTIFY ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notify", "action", "expected"),
    [
        (frozenset(), "failed", True),  # RFC 3461 §4.1 default: FAILURE,DELAY
        (frozenset(), "delayed", True),
        (frozenset(), "delivered", False),
        (frozenset({"NEVER"}), "failed", False),
        (frozenset({"NEVER"}), "delayed", False),
        (frozenset({"SUCCESS"}), "delivered", True),
        (frozenset({"SUCCESS"}), "relayed", True),
        (frozenset({"SUCCESS"}), "expanded", True),
        (frozenset({"SUCCESS"}), "failed", False),
        (frozenset({"FAILURE"}), "failed", True),
        (frozenset({"FAILURE"}), "delayed", False),
        (frozenset({"DELAY"}), "delayed", True),
        (frozenset({"SUCCESS", "FAILURE", "DELAY"}), "delivered", True),
        (frozenset({"SUCCESS", "FAILURE", "DELAY"}), "unknown", False),
    ],
)
def test_wants(notify: frozenset[str], action: str, expected: bool) -> None:
    """MSS-MSG-2: success reports only when asked; failure and delay by default."""
    assert wants(notify, action) is expected
    request = DsnRequest(notify=notify, ret=None, envid=None, orcpt=None)
    assert request.wants(action) is expected


def test_dsn_request_from_params() -> None:
    """MSS-MSG-2: what MAIL and RCPT asked for, in one value."""
    request = DsnRequest.from_params(
        parse_mail_params("RET=FULL ENVID=QQ+2B1"),
        parse_rcpt_params("NOTIFY=SUCCESS ORCPT=rfc822;b@example.fr"),
    )
    assert request == DsnRequest(
        notify=frozenset({"SUCCESS"}), ret="FULL", envid="QQ+1", orcpt=("rfc822", "b@example.fr")
    )
    assert request.wants("delivered")
    assert not request.wants("failed")
