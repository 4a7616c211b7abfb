"""The audit vocabulary and the in-memory log (SEC-IN-3, SEC-IN-4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mss.audit import (
    ALLOWED_KEYS,
    MAX_VALUE_LENGTH,
    AuditEvent,
    AuditLogClosedError,
    MemoryAuditLog,
    append_only_ddl,
    clip,
    make_record,
)

COMMON_FIELDS = {"at", "event", "session_id", "peer", "actor", "mailbox"}


def test_every_event_has_its_allowed_keys() -> None:
    assert set(ALLOWED_KEYS) == set(AuditEvent)


def test_no_event_allows_content_or_secrets() -> None:
    """SEC-IN-3: no key for a subject, body, attachment name, password or token."""
    forbidden = {"subject", "body", "content", "filename", "attachment", "password", "token"}
    for event, keys in ALLOWED_KEYS.items():
        assert not keys & forbidden, event
        assert not keys & COMMON_FIELDS, event


def test_briefed_detail_keys_are_allowed() -> None:
    assert {"protocol", "cipher", "peer_dn"} <= ALLOWED_KEYS[AuditEvent.TLS_ESTABLISHED]
    assert {"stage", "decision", "reason", "status"} <= ALLOWED_KEYS[AuditEvent.POLICY_DECISION]
    assert {"folder", "uid"} <= ALLOWED_KEYS[AuditEvent.MESSAGE_DELIVERED]
    assert {"action", "result"} <= ALLOWED_KEYS[AuditEvent.MAILBOX_ACCESSED]


def test_unknown_detail_key_is_refused() -> None:
    """SEC-IN-3: a subject cannot slip into the trail."""
    log = MemoryAuditLog()
    with pytest.raises(ValueError, match="subject"):
        log.record(AuditEvent.MESSAGE_ACCEPTED, subject="Résultats biologie de M. X")
    assert log.records == []


def test_key_allowed_for_another_event_is_refused() -> None:
    with pytest.raises(ValueError, match="cipher"):
        make_record(AuditEvent.AUTH_FAILED, details={"cipher": "x"})


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="message_read"):
        make_record("message_read")


LONG = "x" * (MAX_VALUE_LENGTH + 1)


def test_long_detail_is_refused() -> None:
    """SEC-IN-3: details are short facts, not text."""
    with pytest.raises(ValueError, match="longer than"):
        make_record(AuditEvent.AUTH_FAILED, details={"reason": LONG})


@pytest.mark.parametrize("field", ["peer", "actor", "mailbox", "session_id"])
def test_long_common_field_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="longer than"):
        make_record(AuditEvent.AUTH_FAILED, **{field: LONG})  # type: ignore[arg-type]


def test_value_at_the_limit_is_kept() -> None:
    value = "x" * MAX_VALUE_LENGTH
    assert make_record(AuditEvent.AUTH_FAILED, actor=value).actor == value


def test_non_scalar_value_is_refused() -> None:
    with pytest.raises(ValueError, match="string or an integer"):
        make_record(AuditEvent.ADMIN_ACTION, details={"target": ["a", "b"]})  # type: ignore[dict-item]


def test_none_details_are_left_out() -> None:
    item = make_record(AuditEvent.TLS_ESTABLISHED, details={"protocol": "TLSv1.3", "peer_dn": None})
    assert dict(item.details) == {"protocol": "TLSv1.3"}


def test_record_time_is_aware_utc() -> None:
    before = datetime.now(UTC)
    item = make_record(AuditEvent.CONNECTION_OPENED)
    assert item.at.tzinfo is UTC
    assert before <= item.at <= datetime.now(UTC)
    paris = datetime(2025, 3, 13, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    assert make_record(AuditEvent.CONNECTION_OPENED, at=paris).at == paris
    assert make_record(AuditEvent.CONNECTION_OPENED, at=paris).at.hour == 11


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_record(AuditEvent.CONNECTION_OPENED, at=datetime(2025, 1, 1))  # noqa: DTZ001


def test_details_cannot_be_changed_after_recording() -> None:
    item = make_record(AuditEvent.ADMIN_ACTION, details={"action": "suspend"})
    with pytest.raises(TypeError):
        item.details["action"] = "delete"  # type: ignore[index]


def test_clip_keeps_peer_text_within_the_limit() -> None:
    assert clip("short") == "short"
    clipped = clip("CN=" + "a" * 1000)
    assert len(clipped) == MAX_VALUE_LENGTH
    assert make_record(AuditEvent.TLS_ESTABLISHED, details={"peer_dn": clipped})


async def test_memory_log_queries_by_mailbox_and_event_in_order() -> None:
    """SEC-IN-4: the trace of one mailbox, oldest first, with who and what."""
    log = MemoryAuditLog()
    log.record(AuditEvent.AUTH_SUCCEEDED, actor="dr.a@hop.mssante.fr", mechanism="PLAIN")
    log.record(AuditEvent.MAILBOX_ACCESSED, mailbox="a@hop", action="select", result="ok")
    log.record(AuditEvent.MAILBOX_ACCESSED, mailbox="b@hop", action="select", result="ok")
    log.record(AuditEvent.MESSAGE_DELIVERED, mailbox="a@hop", folder="INBOX", uid=7)
    trace = await log.query(mailbox="a@hop")
    assert [(r.event, dict(r.details)) for r in trace] == [
        (AuditEvent.MAILBOX_ACCESSED, {"action": "select", "result": "ok"}),
        (AuditEvent.MESSAGE_DELIVERED, {"folder": "INBOX", "uid": 7}),
    ]
    assert [r.mailbox for r in await log.query(event=AuditEvent.MAILBOX_ACCESSED)] == [
        "a@hop",
        "b@hop",
    ]
    assert [r.mailbox for r in await log.query(limit=2)] == ["b@hop", "a@hop"]


async def test_memory_log_refuses_records_after_close() -> None:
    log = MemoryAuditLog()
    await log.close()
    with pytest.raises(AuditLogClosedError):
        log.record(AuditEvent.CONNECTION_OPENED)


def test_append_only_ddl_per_dialect() -> None:
    sqlite = append_only_ddl("sqlite")
    assert len(sqlite) == 2
    assert any("BEFORE UPDATE ON audit_events" in ddl for ddl in sqlite)
    assert any("BEFORE DELETE ON audit_events" in ddl for ddl in sqlite)
    assert any("UPDATE OR DELETE" in ddl for ddl in append_only_ddl("postgresql"))
    with pytest.raises(ValueError, match="mysql"):
        append_only_ddl("mysql")
