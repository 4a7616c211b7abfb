"""MAIL/RCPT paths and ESMTP parameters (RFC 5321, 1870, 6152, 6531, 3461 — MSS-MSG-2)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.errors import WireSyntaxError
from mss.wire.smtp_params import (
    MailParams,
    RcptParams,
    parse_mail_params,
    parse_rcpt_params,
    split_path,
    utf8_addr_xtext_decode,
    utf8_addr_xtext_encode,
    xtext_decode,
    xtext_encode,
)

# --- split_path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "keyword", "expected"),
    [
        ("FROM:<alice@example.fr>", "FROM:", ("alice@example.fr", "")),
        ("from:<alice@example.fr>", "FROM:", ("alice@example.fr", "")),
        ("FROM: <alice@example.fr> SIZE=10", "FROM:", ("alice@example.fr", "SIZE=10")),
        ("FROM:<>", "FROM:", ("", "")),
        ("FROM:<> BODY=8BITMIME", "FROM:", ("", "BODY=8BITMIME")),
        ("TO:<bob@example.fr>  NOTIFY=NEVER ", "TO:", ("bob@example.fr", "NOTIFY=NEVER")),
        ("To:<@relay.fr,@other.fr:bob@example.fr>", "TO:", ("bob@example.fr", "")),
        ("TO:<@[192.0.2.1]:bob@example.fr>", "TO:", ("bob@example.fr", "")),
        ('TO:<"john doe"@example.fr>', "TO:", ('"john doe"@example.fr', "")),
        ('TO:<"a>b\\"c"@example.fr>', "TO:", ('"a>b\\"c"@example.fr', "")),
        ("TO:<Postmaster>", "TO:", ("Postmaster", "")),
        ("TO:<bob@[192.0.2.1]>", "TO:", ("bob@[192.0.2.1]", "")),
        ("TO:<bob@[IPv6:2001:db8::1]>", "TO:", ("bob@[IPv6:2001:db8::1]", "")),
        ("TO:<jérôme@hôpital.fr>", "TO:", ("jérôme@hôpital.fr", "")),
        ("TO:<a.b+tag@x-y.example.fr>", "TO:", ("a.b+tag@x-y.example.fr", "")),
    ],
)
def test_split_path_accepts(arg: str, keyword: str, expected: tuple[str, str]) -> None:
    assert split_path(arg, keyword) == expected


@pytest.mark.parametrize(
    "arg",
    [
        "FROM:alice@example.fr",  # no brackets
        "FROM:<alice@example.fr",  # unbalanced
        "FROM:<<alice@example.fr>",
        "FROM:<alice@example.fr>>",
        "FROM:<alice@example.fr>SIZE=1",  # no space before the parameters
        "FROM:<alice @example.fr>",  # space inside the path
        "FROM:<alice@exa mple.fr>",
        "FROM:<alice\r\n@example.fr>",  # control characters
        "FROM:<alice@example.fr\x00>",
        "FROM:<alice\x7f@example.fr>",
        "FROM:<alice>",  # no domain
        "FROM:<@example.fr>",  # bad source route / empty local part
        "FROM:<@a.fr:>",
        "FROM:<alice@>",
        "FROM:<alice..b@example.fr>",
        "FROM:<alice@example..fr>",
        "FROM:<alice@-example.fr>",
        'FROM:<"unterminated@example.fr>',
        "FROM:<Postmaster>",  # only RCPT may omit the domain
        "TO:<alice@example.fr>",  # wrong keyword
        "FROM <alice@example.fr>",
        "",
    ],
)
def test_split_path_refuses(arg: str) -> None:
    with pytest.raises(WireSyntaxError):
        split_path(arg, "FROM:")


def test_split_path_refuses_null_forward_path() -> None:
    with pytest.raises(WireSyntaxError):
        split_path("TO:<>", "TO:")


def test_split_path_address_length_limit() -> None:
    """RFC 5321 §4.5.3.1.3: 256 octets at most."""
    longest = "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 63])
    assert len(longest) == 256
    assert split_path(f"TO:<{longest}>", "TO:") == (longest, "")
    with pytest.raises(WireSyntaxError):
        split_path(f"TO:<{longest}e>", "TO:")


@given(st.text())
def test_split_path_any_text_gives_value_or_syntax_error(text: str) -> None:
    for keyword in ("FROM:", "TO:"):
        try:
            address, rest = split_path(text, keyword)
        except WireSyntaxError:
            continue
        assert not any(ord(char) < 32 for char in address)
        assert " " not in address or address.startswith('"')
        assert rest == rest.strip(" ")


@given(st.text(alphabet=st.sampled_from('<>@:,." \\ab[]\r\x00é'), max_size=30))
def test_split_path_bracket_soup_gives_value_or_syntax_error(text: str) -> None:
    for keyword in ("FROM:", "TO:"):
        with contextlib.suppress(WireSyntaxError):
            split_path(keyword + text, keyword)


# --- MAIL parameters -----------------------------------------------------------------------


def test_mail_params_empty() -> None:
    assert parse_mail_params("") == MailParams()
    assert parse_mail_params("   ") == MailParams()


def test_mail_params_all() -> None:
    params = parse_mail_params("size=1000 body=8bitmime smtputf8 ret=hdrs envid=Qz+2B1 AUTH=<>")
    assert params == MailParams(
        size=1000, body="8BITMIME", smtputf8=True, ret="HDRS", envid="Qz+1", auth="<>"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SIZE=0", MailParams(size=0)),
        ("SIZE=" + "9" * 20, MailParams(size=int("9" * 20))),
        ("BODY=7BIT", MailParams(body="7BIT")),
        ("BODY=8BITMIME", MailParams(body="8BITMIME")),
        ("SMTPUTF8", MailParams(smtputf8=True)),
        ("RET=FULL", MailParams(ret="FULL")),
        ("RET=Hdrs", MailParams(ret="HDRS")),
        ("ENVID=AbC-123", MailParams(envid="AbC-123")),  # MSS-MSG-2: ENVID keeps its case
        ("ENVID=a+20b+2Bc+3D", MailParams(envid="a b+c=")),
        ("ENVID=" + "x" * 100, MailParams(envid="x" * 100)),
        ("AUTH=alice+2Bx@example.fr", MailParams(auth="alice+x@example.fr")),
    ],
)
def test_mail_params_each(text: str, expected: MailParams) -> None:
    assert parse_mail_params(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "SIZE",  # value missing
        "SIZE=",
        "SIZE=-1",
        "SIZE=1e3",
        "SIZE=１２",  # non-ASCII digits
        "SIZE=" + "9" * 21,
        "BODY=BINARYMIME",
        "BODY",
        "SMTPUTF8=YES",
        "RET=ALL",
        "ENVID=" + "x" * 101,
        "ENVID=a+2",  # broken xtext
        "ENVID=a+ZZ",
        "ENVID=é",  # xtext is ASCII
        "ENVID=+0D+0A",  # decoded control characters
        "ENVID=+FF",  # not UTF-8 once decoded
        "SIZE=1 SIZE=2",  # each keyword at most once
        "size=1 SIZE=2",
        "SIZE=1\tBODY=7BIT",
        "=1",
        "-SIZE=1",
        "SIZE==1",
    ],
)
def test_mail_params_refuses(text: str) -> None:
    with pytest.raises(WireSyntaxError):
        parse_mail_params(text)


def test_mail_params_unknown_keyword_is_named() -> None:
    """The caller answers 555 5.5.4 with the name of the parameter."""
    with pytest.raises(WireSyntaxError, match="MT-PRIORITY"):
        parse_mail_params("SIZE=1 mt-priority=3")


@given(st.text())
def test_mail_params_any_text_gives_value_or_syntax_error(text: str) -> None:
    try:
        params = parse_mail_params(text)
    except WireSyntaxError:
        return
    assert isinstance(params, MailParams)


@given(
    st.lists(
        st.sampled_from(
            ["SIZE=12", "BODY=7bit", "SMTPUTF8", "RET=FULL", "ENVID=x+2B", "AUTH=<>", "X=1"]
        )
        | st.text(alphabet="SIZEBODY=+0123456789", max_size=12)
    ).map(" ".join)
)
def test_mail_params_token_soup_gives_value_or_syntax_error(text: str) -> None:
    with contextlib.suppress(WireSyntaxError):
        parse_mail_params(text)


# --- RCPT parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", RcptParams()),
        ("NOTIFY=NEVER", RcptParams(notify=frozenset({"NEVER"}))),
        ("notify=success", RcptParams(notify=frozenset({"SUCCESS"}))),
        (
            "NOTIFY=SUCCESS,FAILURE,DELAY",
            RcptParams(notify=frozenset({"SUCCESS", "FAILURE", "DELAY"})),
        ),
        ("NOTIFY=failure,delay", RcptParams(notify=frozenset({"FAILURE", "DELAY"}))),
        ("ORCPT=rfc822;Bob@Example.fr", RcptParams(orcpt=("rfc822", "Bob@Example.fr"))),
        ("ORCPT=RFC822;bob+2Btag@example.fr", RcptParams(orcpt=("rfc822", "bob+tag@example.fr"))),
        (
            "ORCPT=utf-8;j\\x{E9}r\\x{F4}me@example.fr",
            RcptParams(orcpt=("utf-8", "jérôme@example.fr")),
        ),
        ("ORCPT=utf-8;jérôme@example.fr", RcptParams(orcpt=("utf-8", "jérôme@example.fr"))),
        (
            "NOTIFY=DELAY ORCPT=rfc822;b@example.fr",
            RcptParams(notify=frozenset({"DELAY"}), orcpt=("rfc822", "b@example.fr")),
        ),
    ],
)
def test_rcpt_params_each(text: str, expected: RcptParams) -> None:
    """MSS-MSG-2: NOTIFY and ORCPT as RFC 3461 §4.1-4.2 define them."""
    assert parse_rcpt_params(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "NOTIFY",
        "NOTIFY=",
        "NOTIFY=NEVER,SUCCESS",  # NEVER must stand alone
        "NOTIFY=SUCCESS,,DELAY",
        "NOTIFY=SOMETIMES",
        "NOTIFY=SUCCESS NOTIFY=DELAY",
        "ORCPT",
        "ORCPT=bob@example.fr",  # no addr-type
        "ORCPT=rfc822;",
        "ORCPT=;bob@example.fr",
        "ORCPT=rfc822;bob+0A@example.fr",  # decoded control character
        "ORCPT=rfc822;" + "b" * 500,
        "ORCPT=utf-8;j\\x{D800}@example.fr",
        "ORCPT=utf-8;j\\x{110000}@example.fr",
        "SIZE=10",  # a MAIL parameter
    ],
)
def test_rcpt_params_refuses(text: str) -> None:
    with pytest.raises(WireSyntaxError):
        parse_rcpt_params(text)


def test_rcpt_params_unknown_keyword_is_named() -> None:
    with pytest.raises(WireSyntaxError, match="RRVS"):
        parse_rcpt_params("RRVS=2030-01-01T00:00:00Z")


@given(st.text())
def test_rcpt_params_any_text_gives_value_or_syntax_error(text: str) -> None:
    try:
        params = parse_rcpt_params(text)
    except WireSyntaxError:
        return
    assert params.notify <= {"SUCCESS", "FAILURE", "DELAY"} or params.notify == {"NEVER"}


@given(st.text(alphabet="NOTIFY=ORCPT;rfc822+\\x{}SUCESFAILDYNV,é ", max_size=40))
def test_rcpt_params_token_soup_gives_value_or_syntax_error(text: str) -> None:
    with contextlib.suppress(WireSyntaxError):
        parse_rcpt_params(text)


# --- xtext ---------------------------------------------------------------------------------


def test_xtext_examples() -> None:
    assert xtext_encode("a+b=c d") == "a+2Bb+3Dc+20d"
    assert xtext_encode("é") == "+C3+A9"
    assert xtext_decode("a+2Bb+3Dc+20d") == "a+b=c d"
    assert xtext_decode("") == ""


@given(st.text())
def test_xtext_round_trip(text: str) -> None:
    encoded = xtext_encode(text)
    assert encoded.isascii()
    assert all(33 <= ord(char) <= 126 and char != "=" for char in encoded)
    assert xtext_decode(encoded) == text


@given(st.text())
def test_xtext_decode_any_text_gives_value_or_syntax_error(text: str) -> None:
    with contextlib.suppress(WireSyntaxError):
        xtext_decode(text)


@given(st.text(min_size=1))
def test_utf8_addr_xtext_round_trip(text: str) -> None:
    """RFC 6533 §3, used for non-ASCII addresses in DSNs."""
    encoded = utf8_addr_xtext_encode(text)
    assert encoded.isascii()
    assert " " not in encoded
    assert utf8_addr_xtext_decode(encoded) == text
