"""IMAP SEARCH parsing (RFC 3501 §6.4.4, MODSEQ of RFC 7162, ESEARCH of RFC 4731)."""

from __future__ import annotations

from datetime import date

import pytest

from mss.wire.imap import command as c
from mss.wire.imap import search as s
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.lexer import LiteralRequest
from mss.wire.imap.parser import parse_command
from mss.wire.imap.sequence import SequenceSet, parse_sequence_set


def parse(line: str) -> c.AnyCommand:
    result = parse_command(line.encode() + b"\r\n")
    assert not isinstance(result, LiteralRequest)
    return result


def seq(text: str) -> SequenceSet:
    return parse_sequence_set(text)


def test_search_rfc3501_examples() -> None:
    assert parse('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"') == c.Search(
        "A282",
        False,
        s.And(
            (
                s.FlagKey("FLAGGED"),
                s.DateKey("SINCE", date(1994, 2, 1)),
                s.Not(s.StringKey("FROM", "Smith")),
            )
        ),
    )
    cmd = parse("A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX")
    assert cmd == c.Search("A284", False, s.StringKey("TEXT", "XXXXXX"), "UTF-8")


def test_search_nesting_and_every_key() -> None:
    line = (
        "a UID SEARCH OR (SEEN UNSEEN) NOT (OR ANSWERED DELETED) 1:3,*"
        ' UID 5:* HEADER "X-Mailer" "" KEYWORD $Junk UNKEYWORD $Forwarded LARGER 10 SMALLER 99'
        ' BEFORE "01-Jan-2020" ON 2-Mar-2021 SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000'
        " SENTSINCE 1-Jan-2000 BCC b CC c TO t SUBJECT s BODY x ALL NEW OLD RECENT DRAFT"
        " UNDRAFT FLAGGED UNFLAGGED UNANSWERED UNDELETED"
    )
    cmd = parse(line)
    assert isinstance(cmd, c.Search)
    assert cmd.uid
    assert isinstance(cmd.key, s.And)
    first = cmd.key.keys[0]
    assert first == s.Or(
        s.And((s.FlagKey("SEEN"), s.FlagKey("UNSEEN"))),
        s.Not(s.And((s.Or(s.FlagKey("ANSWERED"), s.FlagKey("DELETED")),))),
    )
    assert s.SequenceKey(False, seq("1:3,*")) in cmd.key.keys
    assert s.SequenceKey(True, seq("5:*")) in cmd.key.keys
    assert s.HeaderKey("X-Mailer", "") in cmd.key.keys
    assert s.DateKey("BEFORE", date(2020, 1, 1)) in cmd.key.keys
    assert len(cmd.key.keys) == 28


def test_search_or_takes_two_keys() -> None:
    cmd = parse("a SEARCH OR SEEN FLAGGED")
    assert isinstance(cmd, c.Search)
    assert cmd.key == s.Or(s.FlagKey("SEEN"), s.FlagKey("FLAGGED"))


def test_search_modseq_and_esearch() -> None:
    # RFC 7162 §3.1.5, RFC 4731
    cmd = parse('a SEARCH MODSEQ "/flags/\\\\draft" all 620162338')
    assert cmd == c.Search("a", False, s.ModSeqKey(620162338, ("/flags/\\draft", "all")))
    cmd = parse("a UID SEARCH RETURN (MIN MAX COUNT) MODSEQ 5")
    assert cmd == c.Search("a", True, s.ModSeqKey(5), None, ("MIN", "MAX", "COUNT"))
    assert parse("a SEARCH RETURN () ALL") == c.Search("a", False, s.FlagKey("ALL"), None, ())


@pytest.mark.parametrize(
    "line",
    [
        "a SEARCH",
        "a SEARCH BOGUS",
        "a SEARCH OR SEEN",
        "a SEARCH NOT",
        "a SEARCH ()",
        "a SEARCH SINCE 31-Feb-2020",
        "a SEARCH SINCE 1-Foo-2020",
        "a SEARCH (SEEN",
        "a SEARCH SEEN)",
        "a SEARCH RETURN (BOGUS) ALL",
        "a SEARCH LARGER x",
    ],
)
def test_bad_search(line: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse(line)
