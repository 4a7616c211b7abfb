"""ENVELOPE address lists (RFC 3501 §7.4.2, RFC 5322 §3.4 and §4.4 obsolete routes; issue 3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mss.wire.imap.addresses import address_list
from mss.wire.imap.response import render_value

CASES = [
    ("user@domain", ((None, None, "user", "domain"),)),
    ("user@domain (Real Name)", (("Real Name", None, "user", "domain"),)),
    ("Real  Name <user@domain>", (("Real Name", None, "user", "domain"),)),
    ('"Joe Q. Public" <jqp@example.com>', (("Joe Q. Public", None, "jqp", "example.com"),)),
    ("Joe Q. Public <jqp@example.com>", (("Joe Q. Public", None, "jqp", "example.com"),)),
    ("J.R.R. Tolkien <jrr@x>", (("J.R.R. Tolkien", None, "jrr", "x"),)),
    ('"A \\"B\\"" <x@y>', (('A "B"', None, "x", "y"),)),
    ("<@route:user@domain>", ((None, "@route", "user", "domain"),)),
    ("Mary <@a.test,@b.test:mary@c.test>", (("Mary", "@a.test,@b.test", "mary", "c.test"),)),
    ("=?utf-8?q?caf=C3=A9?= <c@x>", (("=?utf-8?q?caf=C3=A9?=", None, "c", "x"),)),
    ('"john doe"@example.org', ((None, None, "john doe", "example.org"),)),
    ("jdoe@test  . example", ((None, None, "jdoe", "test.example"),)),
    ("nobody", ((None, None, "nobody", "MISSING_DOMAIN"),)),
    ("<>", None),
    ("", None),
    ("   ", None),
    ("(just a comment)", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_mailboxes(text: str, expected: object) -> None:
    assert address_list(text) == expected


def test_absent_field_is_nil() -> None:
    assert address_list(None) is None


def test_groups_open_and_close_with_nil_host_entries() -> None:
    # RFC 3501 §7.4.2: (NIL NIL name NIL) members (NIL NIL NIL NIL)
    value = address_list("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;")
    assert render_value(value) == (
        b'((NIL NIL "group" NIL) (NIL NIL "g1" "d1.org") (NIL NIL "g2" "d2.org")'
        b' (NIL NIL NIL NIL) (NIL NIL "group2" NIL) (NIL NIL "g3" "d3.org") (NIL NIL NIL NIL))'
    )


def test_rfc5322_group_with_comments_and_display_names() -> None:
    text = (
        "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
        "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end)"
    )
    assert address_list(text) == (
        (None, None, "A Group", None),
        ("Chris Jones", None, "c", "public.example"),
        (None, None, "joe", "example.org"),
        ("John", None, "jdoe", "one.test"),
        (None, None, None, None),
    )


def test_empty_group() -> None:
    assert address_list("undisclosed-recipients:;") == (
        (None, None, "undisclosed-recipients", None),
        (None, None, None, None),
    )


def test_quoted_comma_is_not_a_separator() -> None:
    assert address_list('"C, D" <c@x.fr>, e@x.fr') == (
        ("C, D", None, "c", "x.fr"),
        (None, None, "e", "x.fr"),
    )


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list('ab@.,;:<>()"\\[] \t\r\n=?é')), max_size=60))
def test_any_text_gives_a_list_or_nil(text: str) -> None:
    value = address_list(text)
    assert value is None or render_value(value).startswith(b"((")
