"""LIST, LSUB, SUBSCRIBE and CREATE to the letter (RFC 3501 §6.3, LIST-EXTENDED RFC 5258;
issue 3), over real TLS against the demo operator.

Wildcards ``%`` and ``*`` and their corners, the reference name, ``LIST "" ""`` (the delimiter),
INBOX in any case, \\HasChildren/\\HasNoChildren, CREATE not subscribing, LSUB's \\Noselect
parent, RECURSIVEMATCH's CHILDINFO only for subscribed children the patterns miss.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_compliance_fetch import Client, logged_in
from tests.protocol.test_imap_hostile import status_of


@pytest.fixture
def client(running: RunningOperator) -> Iterator[Client]:
    yield from logged_in(running)


def names(lines: list[bytes]) -> list[bytes]:
    """``* LIST (attrs) "/" name`` -> name (with any extended data)."""
    return [line.split(b'"/" ', 1)[1].rstrip(b"\r\n") for line in lines]


def tree(client: Client, *children: str) -> str:
    root = f"L{uuid.uuid4().hex[:8]}"
    client.ok(f"CREATE {root}/")
    for child in children:
        client.ok(f"CREATE {root}/{child}")
    return root


def test_empty_pattern_gives_the_delimiter(client: Client) -> None:
    assert client.ok('LIST "" ""') == [b'* LIST (\\Noselect) "/" ""\r\n']
    assert client.ok('LIST "anything/below" ""') == [b'* LIST (\\Noselect) "/" ""\r\n']
    _, tagged = client.command('LIST "" NIL')  # a mailbox named "NIL": none, and OK
    assert status_of(tagged) == b"OK"


def test_percent_and_star(client: Client) -> None:
    root = tree(client, "test", "test2", "test3/", "test3/test4/", "test3/test4/test5")
    lines = client.ok(f'LIST "" {root}/%')
    assert names(lines) == [f"{root}/{n}".encode() for n in ("test", "test2", "test3")]
    assert lines[2].startswith(b"* LIST (\\HasChildren) ")
    assert lines[0].startswith(b"* LIST (\\HasNoChildren) ")
    assert names(client.ok(f'LIST "" {root}/%/%')) == [f"{root}/test3/test4".encode()]
    everything = [
        f"{root}/{n}".encode()
        for n in ("test", "test2", "test3", "test3/test4", "test3/test4/test5")
    ]
    assert names(client.ok(f'LIST "" {root}/*')) == everything
    assert names(client.ok(f"LIST {root}/ *")) == everything  # reference + pattern
    assert names(client.ok(f'LIST "" {root}/*test4')) == [f"{root}/test3/test4".encode()]
    assert names(client.ok(f'LIST "" {root}/%3/%4')) == [f"{root}/test3/test4".encode()]
    assert names(client.ok(f'LIST "" {root}/%t*4')) == [f"{root}/test3/test4".encode()]
    client.ok(f"DELETE {root}/test2")
    assert f"{root}/test2".encode() not in names(client.ok(f'LIST "" {root}/*'))


def test_inbox_in_any_case(client: Client) -> None:
    for pattern in ("INBOX", "inbox", "InBoX"):
        assert client.ok(f'LIST "" {pattern}') == [b'* LIST (\\HasNoChildren) "/" INBOX\r\n']


def test_create_does_not_subscribe(client: Client) -> None:
    root = tree(client, "a")
    assert client.ok(f'LSUB "" {root}*') == []
    lines = client.ok(f'LIST "" {root}/% RETURN (SUBSCRIBED)')
    assert lines == [f'* LIST (\\HasNoChildren) "/" {root}/a\r\n'.encode()]


def test_lsub_lists_an_unsubscribed_parent_as_noselect(client: Client) -> None:
    # RFC 3501 §6.3.9
    root = tree(client, "test", "test2/", "test2/test", "test3/", "test3/test3")
    for name in ("test", "test2/test", "test3/test3"):
        client.ok(f"SUBSCRIBE {root}/{name}")
    assert client.ok(f'LSUB "" {root}/%') == [
        f'* LSUB (\\HasNoChildren) "/" {root}/test\r\n'.encode(),
        f'* LSUB (\\Noselect \\HasChildren) "/" {root}/test2\r\n'.encode(),
        f'* LSUB (\\Noselect \\HasChildren) "/" {root}/test3\r\n'.encode(),
    ]
    assert names(client.ok(f'LSUB "" {root}/*test')) == [
        f"{root}/test".encode(),
        f"{root}/test2/test".encode(),
    ]
    client.ok(f"UNSUBSCRIBE {root}/test")
    assert names(client.ok(f'LSUB "" {root}/*')) == [
        f"{root}/test2/test".encode(),
        f"{root}/test3/test3".encode(),
    ]


def test_list_extended_selection_and_childinfo(client: Client) -> None:
    # RFC 5258 §3, §3.5, §4
    root = tree(
        client, "test1", "test2/", "test2/test1", "test3", "test4/test5", "test4/test52",
        "test7/test7", "test8/test8", "test8/test9",
    )  # fmt: skip
    for name in ("test1", "test2/test1", "test7/test7", "test8/test8", "test8/test9"):
        client.ok(f"SUBSCRIBE {root}/{name}")
    assert names(client.ok(f'LIST "" ({root}/*2 {root}/test3)')) == [
        f"{root}/test2".encode(),
        f"{root}/test3".encode(),
        f"{root}/test4/test52".encode(),
    ]
    lines = client.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" {root}/test2% RETURN (CHILDREN)')
    assert lines == [
        f'* LIST (\\HasChildren) "/" {root}/test2 ("CHILDINFO" ("SUBSCRIBED"))\r\n'.encode()
    ]
    # The subscribed child matches the patterns itself: no CHILDINFO for the parent.
    lines = client.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" ({root}/test2 {root}/test2/test1)')
    assert lines == [f'* LIST (\\HasNoChildren \\Subscribed) "/" {root}/test2/test1\r\n'.encode()]
    assert names(client.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" {root}/*test7')) == [
        f"{root}/test7/test7".encode()
    ]
    lines = client.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" {root}/*test8')
    assert lines == [
        f'* LIST (\\HasChildren) "/" {root}/test8 ("CHILDINFO" ("SUBSCRIBED"))\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {root}/test8/test8\r\n'.encode(),
    ]
    lines = client.ok(f'LIST "" {root}/% RETURN (CHILDREN SUBSCRIBED)')
    assert [line.split(b" ", 2)[2].split(b")")[0] for line in lines] == [
        b"(\\HasNoChildren \\Subscribed",
        b"(\\HasChildren",
        b"(\\HasNoChildren",
        b"(\\HasChildren",
        b"(\\HasChildren",
        b"(\\HasChildren",
    ]


def test_bad_list_options(client: Client) -> None:
    for bad in (
        'LIST (imaptest) "" ""',
        'LIST (RECURSIVEMATCH) "" ""',
        'LIST "" "" RETURN (imaptest)',
    ):
        _, tagged = client.command(bad)
        assert status_of(tagged) == b"BAD", (bad, tagged)
    _, tagged = client.command('LIST (REMOTE) "" %')
    assert status_of(tagged) == b"OK"


def test_inbox_is_case_insensitive_as_a_parent(client: Client) -> None:
    # RFC 3501 §5.1: "inbox/x" is INBOX's child, not a child of a second "inbox".
    child = f"c{uuid.uuid4().hex[:6]}"
    client.ok(f"CREATE inbox/{child}")
    assert client.ok(f'LIST "" Inbox/{child}') == [
        f'* LIST (\\HasNoChildren) "/" INBOX/{child}\r\n'.encode()
    ]
    assert f"INBOX/{child}".encode() in b"".join(client.ok('LIST "" iNbox*'))
    assert client.ok(f"STATUS INBOX/{child} (MESSAGES)") == [
        f"* STATUS INBOX/{child} (MESSAGES 0)\r\n".encode()
    ]
    client.ok(f"DELETE inBox/{child}")
    assert client.ok(f'LIST "" INBOX/{child}') == []


def test_rename_creates_superiors_unsubscribed(client: Client) -> None:
    # RFC 3501 §6.3.5: superior names are created as needed; §6.3.6: not subscribed by that.
    # RFC 9051 §6.3.6: the subscription is a name and stays with the old one.
    root = tree(client, "old")
    client.ok(f"SUBSCRIBE {root}/old")
    client.ok(f"RENAME {root}/old {root}/p/q/new")
    assert names(client.ok(f'LIST "" {root}/*')) == [
        f"{root}/p".encode(),
        f"{root}/p/q".encode(),
        f"{root}/p/q/new".encode(),
    ]
    assert names(client.ok(f'LSUB "" {root}/*')) == [f"{root}/old".encode()]


def test_names_with_list_wildcards_are_refused(client: Client) -> None:
    root = tree(client, "a")
    for name in (f'"{root}/st*r"', f'"{root}/per%cent"'):
        _, tagged = client.command(f"CREATE {name}")
        assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[CANNOT]"], tagged
    _, tagged = client.command(f'RENAME {root}/a "{root}/b*"')
    assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[CANNOT]"], tagged
