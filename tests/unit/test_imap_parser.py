"""IMAP command parser: the examples of RFC 3501 §6 and of the extension RFCs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest

from mss.wire.imap import command as c
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.fetch import FetchAttr, Section
from mss.wire.imap.lexer import LiteralRequest
from mss.wire.imap.parser import parse_command
from mss.wire.imap.sequence import SequenceSet, parse_sequence_set

T = TypeVar("T")


def parse(line: str | bytes) -> c.AnyCommand:
    data = line.encode() if isinstance(line, str) else line
    result = parse_command(data + b"\r\n")
    assert not isinstance(result, LiteralRequest)
    return result


def parse_as(line: str, kind: type[T]) -> T:
    result = parse(line)
    assert isinstance(result, kind)
    return result


def seq(text: str) -> SequenceSet:
    return parse_sequence_set(text)


@pytest.mark.parametrize(
    "name",
    [
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "IDLE",
        "NAMESPACE",
    ],
)
def test_commands_without_arguments(name: str) -> None:
    assert parse(f"a002 {name.lower()}") == c.NoArgs("a002", name)


def test_no_argument_command_refuses_arguments() -> None:
    with pytest.raises(ImapSyntaxError):
        parse("a NOOP now")


def test_login_and_quoted_escapes() -> None:
    assert parse("a001 LOGIN SMITH SESAME") == c.Login("a001", "SMITH", "SESAME")
    assert parse(r'a LOGIN "j d" "p\"w\\d"') == c.Login("a", "j d", 'p"w\\d')


def test_login_repr_hides_the_password() -> None:
    assert "SESAME" not in repr(parse("a001 LOGIN SMITH SESAME"))


def test_authenticate_with_and_without_initial_response() -> None:
    assert parse("A001 AUTHENTICATE GSSAPI") == c.Authenticate("A001", "GSSAPI")
    assert parse("a AUTHENTICATE PLAIN AGZyZWQAcHc=") == c.Authenticate(
        "a", "PLAIN", b"\x00fred\x00pw"
    )
    assert parse("a AUTHENTICATE PLAIN =") == c.Authenticate("a", "PLAIN", b"")
    with pytest.raises(ImapSyntaxError):
        parse("a AUTHENTICATE PLAIN AGZy!")


def test_select_examine_condstore() -> None:
    assert parse("A142 SELECT INBOX") == c.Select("A142", "INBOX")
    assert parse("A932 EXAMINE blurdybloop") == c.Select("A932", "blurdybloop", readonly=True)
    assert parse("a SELECT inbox (CONDSTORE)") == c.Select("a", "INBOX", condstore=True)
    with pytest.raises(ImapSyntaxError):
        parse("a SELECT INBOX (BOGUS)")


def test_mailbox_names_are_decoded_from_utf7() -> None:
    assert parse('a SELECT "&AMk-l&AOk-ments envoy&AOk-s"') == c.Select("a", "Éléments envoyés")
    with pytest.raises(ImapSyntaxError) as info:
        parse("t1 SELECT &AGE-")
    assert info.value.tag == "t1"


def test_create_delete_rename_subscribe() -> None:
    assert parse("A003 CREATE owatagusiam/") == c.Create("A003", "owatagusiam/")
    assert parse(r"a CREATE Drafts (USE (\Drafts))") == c.Create("a", "Drafts", ("\\Drafts",))
    assert parse("A683 DELETE blurdybloop") == c.MailboxCommand("A683", "DELETE", "blurdybloop")
    assert parse("A683 RENAME blurdybloop sarasoop") == c.Rename("A683", "blurdybloop", "sarasoop")
    assert parse("A002 SUBSCRIBE #news.comp.mail.mime") == c.MailboxCommand(
        "A002", "SUBSCRIBE", "#news.comp.mail.mime"
    )
    assert parse("a UNSUBSCRIBE x") == c.MailboxCommand("a", "UNSUBSCRIBE", "x")


def test_list_and_lsub() -> None:
    assert parse('A101 LIST "" ""') == c.ListCommand("A101", "", ("",))
    assert parse("A102 LIST #news.comp.mail.misc %") == c.ListCommand(
        "A102", "#news.comp.mail.misc", ("%",)
    )
    assert parse('A202 LIST ~/Mail/ "%"') == c.ListCommand("A202", "~/Mail/", ("%",))
    assert parse('A002 LSUB "#news." "comp.mail.*"') == c.ListCommand(
        "A002", "#news.", ("comp.mail.*",), lsub=True
    )


def test_list_extended() -> None:
    # RFC 5258 §6, RFC 5819, RFC 6154 examples
    assert parse('A02 LIST (SUBSCRIBED) "" "*"') == c.ListCommand(
        "A02", "", ("*",), selection=("SUBSCRIBED",)
    )
    assert parse('A03 LIST () "" "%" RETURN (CHILDREN)') == c.ListCommand(
        "A03", "", ("%",), returns=("CHILDREN",)
    )
    assert parse_as(
        'A01 LIST "" ("INBOX" "Drafts") RETURN (SPECIAL-USE)', c.ListCommand
    ).patterns == (
        "INBOX",
        "Drafts",
    )
    cmd = parse('A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN) SPECIAL-USE)')
    assert cmd == c.ListCommand(
        "A01", "", ("%",), returns=("STATUS", "SPECIAL-USE"), status_items=("MESSAGES", "UNSEEN")
    )
    assert parse_as('t LIST (SPECIAL-USE RECURSIVEMATCH) "" *', c.ListCommand).selection == (
        "SPECIAL-USE",
        "RECURSIVEMATCH",
    )


@pytest.mark.parametrize(
    "line",
    [
        'a LIST (RECURSIVEMATCH) "" *',
        'a LIST (BOGUS) "" *',
        'a LIST "" * RETURN (BOGUS)',
        'a LIST "" * RETURN (STATUS ())',
        'a LIST "" * NOTRETURN ()',
        'a LIST ""',
    ],
)
def test_bad_list(line: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse(line)


def test_status() -> None:
    assert parse("A042 STATUS blurdybloop (UIDNEXT MESSAGES)") == c.Status(
        "A042", "blurdybloop", ("UIDNEXT", "MESSAGES")
    )
    assert parse_as("a STATUS x (HIGHESTMODSEQ SIZE)", c.Status).items == ("HIGHESTMODSEQ", "SIZE")
    with pytest.raises(ImapSyntaxError):
        parse("a STATUS x (BOGUS)")
    with pytest.raises(ImapSyntaxError):
        parse("a STATUS x ()")


def test_append_with_flags_and_date() -> None:
    message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nSubject: x\r\n\r\nHello\r\n"
    line = b'A003 APPEND saved-messages (\\Seen) "07-Feb-1994 21:52:25 -0800" {%d}\r\n' % len(
        message
    )
    result = parse(line + message)
    tz = timezone(-timedelta(hours=8))
    assert result == c.Append(
        "A003", "saved-messages", ("\\Seen",), datetime(1994, 2, 7, 21, 52, 25, tzinfo=tz), message
    )
    assert "Hello" not in repr(result)


def test_append_minimal_and_space_padded_day() -> None:
    assert parse(b"a APPEND INBOX {2+}\r\nhi") == c.Append("a", "INBOX", (), None, b"hi")
    cmd = parse(b'a APPEND INBOX () " 7-Feb-1994 01:02:03 +0000" {0}\r\n')
    assert isinstance(cmd, c.Append)
    assert cmd.internal_date == datetime(1994, 2, 7, 1, 2, 3, tzinfo=UTC)


def test_uid_expunge_and_copy_move() -> None:
    assert parse("A202 UID EXPUNGE 3000:3002") == c.UidExpunge("A202", seq("3000:3002"))
    assert parse("A003 COPY 2:4 MEETING") == c.Copy("A003", False, seq("2:4"), "MEETING")
    assert parse("a UID COPY 1:* Trash") == c.Copy("a", True, seq("1:*"), "Trash")
    assert parse("a MOVE 1 Trash") == c.Copy("a", False, seq("1"), "Trash", move=True)
    assert parse("a UID MOVE 42 Trash") == c.Copy("a", True, seq("42"), "Trash", move=True)


def test_store_forms() -> None:
    assert parse(r"A003 STORE 2:4 +FLAGS (\Deleted)") == c.Store(
        "A003", False, seq("2:4"), "+", False, ("\\Deleted",)
    )
    assert parse(r"a STORE 1 -FLAGS.SILENT \Seen $Junk") == c.Store(
        "a", False, seq("1"), "-", True, ("\\Seen", "$Junk")
    )
    assert parse("a UID STORE 5 FLAGS ()") == c.Store("a", True, seq("5"), "", False, ())
    # RFC 7162 §3.1.3
    assert parse(r"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\Deleted)") == (
        c.Store("d105", False, seq("7,5,9"), "+", True, ("\\Deleted",), 320162338)
    )
    with pytest.raises(ImapSyntaxError):
        parse(r"a STORE 1 +LABELS (\Seen)")
    with pytest.raises(ImapSyntaxError):
        parse(r"a STORE 1 FLAGS (\Seen) \Draft")


def test_fetch_items() -> None:
    cmd = parse("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])")
    assert cmd == c.Fetch(
        "A654",
        False,
        seq("2:4"),
        (FetchAttr("FLAGS"), FetchAttr("BODY", Section((), "HEADER.FIELDS", ("DATE", "FROM")))),
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("ALL", ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE")),
        ("fast", ("FLAGS", "INTERNALDATE", "RFC822.SIZE")),
        ("FULL", ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY")),
        ("UID", ("UID",)),
        (
            "(UID RFC822.SIZE BODYSTRUCTURE MODSEQ)",
            ("UID", "RFC822.SIZE", "BODYSTRUCTURE", "MODSEQ"),
        ),
        ("(RFC822 RFC822.HEADER RFC822.TEXT)", ("RFC822", "RFC822.HEADER", "RFC822.TEXT")),
    ],
)
def test_fetch_macros_and_simple_items(items: str, expected: tuple[str, ...]) -> None:
    cmd = parse(f"a FETCH 1 {items}")
    assert isinstance(cmd, c.Fetch)
    assert tuple(item.name for item in cmd.items) == expected


@pytest.mark.parametrize(
    ("item", "expected", "key"),
    [
        ("BODY[]", FetchAttr("BODY", Section()), "BODY[]"),
        (
            "BODY.PEEK[TEXT]<0.2048>",
            FetchAttr("BODY", Section((), "TEXT"), (0, 2048), True),
            "BODY[TEXT]<0>",
        ),
        ("BODY[1.2.3]", FetchAttr("BODY", Section((1, 2, 3))), "BODY[1.2.3]"),
        ("body[3.HEADER]", FetchAttr("BODY", Section((3,), "HEADER")), "BODY[3.HEADER]"),
        ("BODY[4.2.MIME]", FetchAttr("BODY", Section((4, 2), "MIME")), "BODY[4.2.MIME]"),
        (
            "BODY[HEADER.FIELDS.NOT (Received)]",
            FetchAttr("BODY", Section((), "HEADER.FIELDS.NOT", ("Received",))),
            "BODY[HEADER.FIELDS.NOT (Received)]",
        ),
        ("BINARY[1]", FetchAttr("BINARY", Section((1,))), "BINARY[1]"),
        ("BINARY.PEEK[]<5.10>", FetchAttr("BINARY", Section(), (5, 10), True), "BINARY[]<5>"),
        ("BINARY.SIZE[2]", FetchAttr("BINARY.SIZE", Section((2,))), "BINARY.SIZE[2]"),
        # As Dovecot (imaptest fetch-binary-*): section texts, and <origin> to the end.
        ("BINARY[TEXT]", FetchAttr("BINARY", Section((), "TEXT")), "BINARY[TEXT]"),
        (
            "BINARY.PEEK[1]<15>",
            FetchAttr("BINARY", Section((1,)), (15, None), True),
            "BINARY[1]<15>",
        ),
        (
            "binary.size[2.header.fields (from X-foo)]",
            FetchAttr("BINARY.SIZE", Section((2,), "HEADER.FIELDS", ("from", "X-foo"))),
            "BINARY.SIZE[2.HEADER.FIELDS (from X-foo)]",
        ),
    ],
)
def test_fetch_sections(item: str, expected: FetchAttr, key: str) -> None:
    cmd = parse(f"a FETCH 1 ({item})")
    assert isinstance(cmd, c.Fetch)
    assert cmd.items == (expected,)
    assert cmd.items[0].response_key() == key


def test_seen_side_effect() -> None:
    cmd = parse("a FETCH 1 (BODY[] BODY.PEEK[] RFC822 RFC822.HEADER BINARY[1] FLAGS)")
    assert isinstance(cmd, c.Fetch)
    assert [item.sets_seen for item in cmd.items] == [True, False, True, False, True, False]


@pytest.mark.parametrize(
    "line",
    [
        "a FETCH 1 (BODY[MIME])",
        "a FETCH 1 (BODY[1.])",
        "a FETCH 1 (BINARY[MIME])",
        "a FETCH 1 (BODY[]<5>)",
        "a FETCH 1 (BINARY.SIZE[1]<5>)",
        "a FETCH 1 (BINARY[1]<5.0>)",
        "a FETCH 1 (BINARY[1.])",
        "a FETCH 1 (BODY[HEADER.FIELDS ()])",
        "a FETCH 1 (BODY[]<0.0>)",
        "a FETCH 1 ()",
        "a FETCH 1 BOGUS",
        "a FETCH 0 FLAGS",
        "a FETCH 1 FLAGS (VANISHED)",
        "a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)",
    ],
)
def test_bad_fetch(line: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse(line)


def test_fetch_modifiers() -> None:
    cmd = parse("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
    assert cmd == c.Fetch("s100", True, seq("1:*"), (FetchAttr("FLAGS"),), 12345, True)


def test_id_enable_namespace_quota() -> None:
    assert parse('a023 ID ("name" "sodr" "version" "19.34")') == c.Id(
        "a023", (("name", "sodr"), ("version", "19.34"))
    )
    assert parse("a ID NIL") == c.Id("a", None)
    assert parse('a ID ("x" NIL)') == c.Id("a", (("x", None),))
    assert parse("t2 ENABLE CONDSTORE QRESYNC") == c.Enable("t2", ("CONDSTORE", "QRESYNC"))
    assert parse("A003 GETQUOTAROOT INBOX") == c.MailboxCommand("A003", "GETQUOTAROOT", "INBOX")
    assert parse('G0001 GETQUOTA ""') == c.MailboxCommand("G0001", "GETQUOTA", "")
    with pytest.raises(ImapSyntaxError):
        parse("a ENABLE")


def test_literal_request_then_the_full_command() -> None:
    assert parse_command(b"A001 LOGIN {11}\r\n") == LiteralRequest("A001", 11, False)
    first = b"A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\n"
    assert parse_command(first) == LiteralRequest("A001", 7, False)
    assert parse_command(first + b"fat man\r\n") == c.Login("A001", "FRED FOOBAR", "fat man")
    assert parse_command(b"a LOGIN {3+}\r\n") == LiteralRequest("a", 3, True)


@pytest.mark.parametrize(
    "line",
    [
        b"a FOO\r\n",
        b"a UID FOO 1\r\n",
        b"a\r\n",
        b" NOOP\r\n",
        b"a+b NOOP\r\n",
        b"a NOOP\n",
        b"a NOOP",
        b"a NOOP\r\n\r\n",
        b'a LOGIN "x\r\n',
        b'a LOGIN "a\\b" c\r\n',
        b"a LOGIN {5}\r\nab\r\n",
        b"a LOGIN \xff\xfe x\r\n",
    ],
)
def test_bad_commands(line: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        parse_command(line)


def test_error_carries_the_tag() -> None:
    with pytest.raises(ImapSyntaxError) as info:
        parse_command(b"x42 FROB\r\n")
    assert info.value.tag == "x42"
    assert info.value.status == "BAD"
    with pytest.raises(ImapSyntaxError) as info:
        parse_command(b"\r\n")
    assert info.value.tag is None


def test_header_field_names_are_checked_and_echoed_safely() -> None:
    cmd = parse_as('a FETCH 1 (BODY[HEADER.FIELDS ("X(Odd" x-b)])', c.Fetch)
    assert cmd.items[0].response_key() == 'BODY[HEADER.FIELDS ("X(Odd" x-b)]'
    for bad in ('"a:b"', '"a b"', '""', '"caf\u00e9"'):
        with pytest.raises(ImapSyntaxError):
            parse(f"a FETCH 1 (BODY[HEADER.FIELDS ({bad})])")
