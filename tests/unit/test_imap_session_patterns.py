"""LIST wildcards without backtracking (RFC 3501 §6.3.8)."""

from __future__ import annotations

import time

import pytest

from mss.imap.patterns import Pattern, matches


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "a/b/c", True),
        ("%", "a", True),
        ("%", "a/b", False),
        ("a/%", "a/b", True),
        ("a/%", "a/b/c", False),
        ("a*", "a/b/c", True),
        ("a%c", "abc", True),
        ("a%c", "a/c", False),
        ("", "", True),
        ("", "a", False),
        ("Sent", "Sent", True),
        ("sent", "Sent", False),
        ("*%x", "aaax", True),
        ("%*", "a/b", True),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axxbyy", False),
    ],
)
def test_wildcards(pattern: str, name: str, expected: bool) -> None:
    assert Pattern.compile(pattern).matches(name) is expected


def test_inbox_in_any_case() -> None:
    assert matches(Pattern.compile("inbox"), "INBOX", inbox_pattern=Pattern.compile("INBOX"))
    assert not matches(Pattern.compile("inbox"), "Inbox2", inbox_pattern=Pattern.compile("INBOX"))


def test_hostile_pattern_is_linear() -> None:
    pattern = Pattern.compile("*%" * 2000 + "x" + "%*a" * 2000)
    started = time.monotonic()
    assert not pattern.matches("a" * 512)
    assert time.monotonic() - started < 0.5
