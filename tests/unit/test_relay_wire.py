"""Pure pieces of the outbound SMTP client: replies, EHLO, dot-stuffing, MAIL/RCPT parameters
(RFC 5321, RFC 3461 DSN for MSS-MSG-2, RFC 6531, RFC 1870)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.outbound.relay import OutboundMessage, OutboundRecipient
from mss.relay.wire import (
    Reply,
    ReplyError,
    dot_stuffed,
    mail_params,
    parse_ehlo,
    parse_reply_line,
    rcpt_params,
)
from mss.wire.smtp_data import unstuff
from mss.wire.smtp_params import parse_mail_params, parse_rcpt_params


def test_reply_lines_are_parsed() -> None:
    assert parse_reply_line(b"250-mx.test hello\r\n") == (250, False, "mx.test hello")
    assert parse_reply_line(b"550 5.1.1 no such user\r\n") == (550, True, "5.1.1 no such user")
    assert parse_reply_line(b"250\r\n") == (250, True, "")


@pytest.mark.parametrize("line", [b"25 ok\r\n", b"abc ok\r\n", b"250x\r\n", b"\r\n", b"650 no\r\n"])
def test_malformed_reply_lines_are_refused(line: bytes) -> None:
    with pytest.raises(ReplyError):
        parse_reply_line(line)


@given(st.binary(max_size=200))
def test_any_bytes_give_a_reply_line_or_reply_error(raw: bytes) -> None:
    try:
        code, _last, text = parse_reply_line(raw)
    except ReplyError:
        return
    assert 200 <= code < 600
    assert all(char.isprintable() for char in text)


def test_enhanced_code_is_taken_from_the_reply_or_derived() -> None:
    assert Reply(550, ("5.1.1 no such user",)).enhanced == "5.1.1"
    assert Reply(550, ("5.1.1 no such user",)).text == "no such user"
    assert Reply(451, ("try later",)).enhanced == "4.0.0"
    assert Reply(451, ("5.1.1 inconsistent class",)).enhanced == "4.0.0"
    assert Reply(250, ("2.0.0 ok", "2.0.0 queued as X")).text == "ok queued as X"


def test_ehlo_keywords() -> None:
    reply = Reply(250, ("mx.test greets you", "PIPELINING", "SIZE 1000", "dsn", "8BITMIME", "bad!"))
    assert parse_ehlo(reply) == {"PIPELINING": "", "SIZE": "1000", "DSN": "", "8BITMIME": ""}


@given(st.lists(st.sampled_from([b".", b"..", b"a", b"\r\n", b".x", b"b."]), max_size=30))
def test_dot_stuffing_round_trips_through_our_unstuffer(parts: list[bytes]) -> None:
    body = b"".join(parts)
    wire = dot_stuffed(body)
    assert wire.endswith(b"\r\n.\r\n")
    assert b"\r\n.\r\n" not in wire[:-3]  # the end marker appears only at the end
    expected = body if body.endswith(b"\r\n") else body + b"\r\n"
    assert unstuff(wire[: -len(b".\r\n")]) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"a\r\n\n.\r\nMAIL FROM:<x@evil>\r\n",
        b"a\r\n.\nRCPT TO:<x@evil>\r\n",
        b"a\r\n\r.\r\nDATA\r\n",
        b"a\n.\n",
    ],
)
def test_bare_line_endings_cannot_smuggle_an_end_of_data(body: bytes) -> None:
    """MSS-MSG-5 (SMTP smuggling): whatever line ending a peer honours, the data ends only once."""
    wire = dot_stuffed(body)
    for ending in (b"\r\n.\r\n", b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n"):
        assert wire.find(ending) in (-1, len(wire) - len(ending)), ending
    assert b"\r" not in wire.replace(b"\r\n", b"")
    assert b"\n" not in wire.replace(b"\r\n", b"")


def message(**extra: Any) -> OutboundMessage:
    return dataclasses.replace(OutboundMessage("q", "a@x.test", (), b"12345"), **extra)


def test_mail_params_follow_what_the_peer_offers() -> None:
    """MSS-MSG-2: RET and ENVID only to a DSN peer; SIZE when offered; 8BITMIME when needed."""
    full = message(envid="id 1+2", ret="FULL", eight_bit=True, smtputf8=True)
    offered = ["SIZE", "8BITMIME", "DSN", "SMTPUTF8"]
    params = mail_params(full, offered)
    assert params == ("SIZE=5", "BODY=8BITMIME", "SMTPUTF8", "RET=FULL", "ENVID=id+201+2B2")
    parsed = parse_mail_params(" ".join(params))  # our own server's parser reads them back
    assert parsed.envid == "id 1+2"
    assert mail_params(full, ["SMTPUTF8"]) == ("SMTPUTF8",)
    assert mail_params(message(), []) == ()


def test_a_non_ascii_address_needs_smtputf8() -> None:
    """RFC 6531: even when the submission did not say SMTPUTF8, a UTF-8 address needs it."""
    utf8 = dataclasses.replace(message(), recipients=(OutboundRecipient("médecin@y.test"),))
    assert mail_params(utf8, ["SMTPUTF8"]) == ("SMTPUTF8",)
    assert mail_params(message(), ["SMTPUTF8"]) == ()


def test_rcpt_params_carry_notify_and_orcpt_to_a_dsn_peer() -> None:
    recipient = OutboundRecipient(
        "b@y.test", notify=frozenset({"DELAY", "FAILURE"}), orcpt="rfc822;B+c@y.test"
    )
    params = rcpt_params(recipient, ["DSN"])
    assert params == ("NOTIFY=DELAY,FAILURE", "ORCPT=rfc822;B+2Bc@y.test")
    parsed = parse_rcpt_params(" ".join(params))
    assert parsed.notify == frozenset({"DELAY", "FAILURE"})
    assert parsed.orcpt == ("rfc822", "B+c@y.test")
    assert rcpt_params(recipient, ["PIPELINING"]) == ()
    assert rcpt_params(OutboundRecipient("b@y.test"), ["DSN"]) == ()


def test_utf8_orcpt_uses_rfc_6533_encoding() -> None:
    recipient = OutboundRecipient("é@y.test", orcpt="utf-8;é@y.test")
    [param] = rcpt_params(recipient, ["DSN"])
    assert param == "ORCPT=utf-8;\\x{E9}@y.test"
    assert parse_rcpt_params(param).orcpt == ("utf-8", "é@y.test")
