"""MSS-PAT-7 content rule, DMP-AUD-1: what a notification e-mail says (and never says)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from config.settings import NotifySettings
from directory.models import Mailbox
from mss.notify.content import Envelope, Notice, Topic, render
from mss.notify.names import clean, sender_name
from mss.notify.schedule import RetrySchedule
from mss.notify.transport import SmarthostError, parse_smarthost

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
ENVELOPE = Envelope("ne-pas-repondre@mss.test", "https://mss.test/", "mss.test")


def _parsed(notice: Notice) -> email.message.EmailMessage:
    raw = render(notice, ENVELOPE, NOW)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, ready for DATA
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _text(parsed: email.message.EmailMessage) -> str:
    body = parsed.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_mss_pat_7_new_message_says_who_in_french_then_english() -> None:
    parsed = _parsed(Notice(Topic.NEW_MESSAGE, "jeanne@example.org", ("Dr Alice Martin",)))
    text = _text(parsed)
    assert parsed["To"] == "jeanne@example.org"
    assert parsed["From"] == "ne-pas-repondre@mss.test"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert str(parsed["Subject"]).startswith("Nouveau message")
    assert "Dr Alice Martin" in text
    assert text.index("Vous avez reçu un nouveau message") < text.index("You have received")
    assert "https://mss.test/" in text


def test_mss_pat_7_coalesced_messages_are_counted_and_named() -> None:
    names = ("Dr Alice Martin", "Secretariat de cardiologie")
    text = _text(_parsed(Notice(Topic.NEW_MESSAGE, "j@example.org", names, count=3)))
    assert "3 nouveaux messages" in text
    assert "Dr Alice Martin et Secretariat de cardiologie" in text
    assert "Dr Alice Martin and Secretariat de cardiologie" in text


@pytest.mark.parametrize(
    ("topic", "french"),
    [
        (Topic.FIRST_ACCESS, "pour la première fois"),
        (Topic.NEW_DOCUMENT, "Un nouveau document a été ajouté"),
        (Topic.EMERGENCY_ACCESS, "consulté en urgence"),
    ],
)
def test_dmp_aud_1_record_events_are_told_without_details(topic: Topic, french: str) -> None:
    text = _text(_parsed(Notice(topic, "j@example.org", ("",))))
    assert french in text
    assert "un professionnel de santé" in text  # an unknown actor is not an address


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Dr Alice Martin", "Dr Alice Martin"),
        ("dr.martin@hopital.mssante.fr", ""),  # MSS-PAT-5: never an address
        ("Dr <x@y>", ""),
        ("Dr\r\nBcc: evil@example.org", ""),
        ("Dr\x00 Line\tBreak", "Dr Line Break"),
        ("A" * 200, "A" * 80),
    ],
)
def test_mss_pat_5_names_are_one_clean_line_never_an_address(raw: str, shown: str) -> None:
    assert clean(raw) == shown


class _NoMailboxes:
    async def get_mailbox(self, address: str) -> Mailbox | None:
        return None

    async def list_mailboxes(self) -> list[Mailbox]:
        return []


async def test_remote_sender_is_named_by_the_from_display_name() -> None:
    data = b"From: =?utf-8?q?Dr_H=C3=A9l=C3=A8ne_Roux?= <h.roux@autre.mssante.fr>\r\n\r\nx"
    assert await sender_name(_NoMailboxes(), "h.roux@autre.mssante.fr", data) == "Dr Hélène Roux"
    assert await sender_name(_NoMailboxes(), "x@y", b"From: broken <<<\r\n\r\n") == ""


def test_retry_schedule_repeats_its_last_delay_and_expires() -> None:
    schedule = RetrySchedule.from_settings(
        NotifySettings(retry_schedule=[10.0, 60.0], expiry=3600.0, timeout=5.0)
    )
    assert schedule.next_attempt(1, NOW) == NOW + timedelta(seconds=10)
    assert schedule.next_attempt(5, NOW) == NOW + timedelta(seconds=60)
    assert not schedule.expired(NOW, NOW + timedelta(seconds=3599))
    assert schedule.expired(NOW, NOW + timedelta(seconds=3600))
    assert schedule.lease == timedelta(seconds=100)


@pytest.mark.parametrize("value", ["", "host", "host:", "host:0", "host:99999", ":25"])
def test_bad_smarthost_is_a_clear_error(value: str) -> None:
    with pytest.raises(SmarthostError, match="host:port"):
        parse_smarthost(value)


def test_smarthost_parses_names_and_ipv6() -> None:
    assert parse_smarthost("smtp.example.org:587") == ("smtp.example.org", 587)
    assert parse_smarthost("[::1]:2525") == ("::1", 2525)


@pytest.mark.parametrize("value", ["host", "host:", "a b:25", ":25"])
def test_config_refuses_a_smarthost_that_is_not_host_port(value: str) -> None:
    with pytest.raises(ValidationError, match="smarthost"):
        NotifySettings(smarthost=value)
