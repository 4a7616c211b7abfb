"""IMAP subscriptions are NAMES (RFC 3501 §6.3.6, RFC 9051 §6.3.7-6.3.8, LIST-EXTENDED RFC 5258
§3), over real TLS against the demo operator: SUBSCRIBE of a name without a mailbox, a
subscription surviving DELETE and RENAME, \\NonExistent in LIST (SUBSCRIBED), \\Noselect in LSUB,
CHILDINFO for parents that do not exist, UNSUBSCRIBE of a name not subscribed. The scenarios of
imaptest's ``subscribe`` and ``listext`` scripts (dovecot/imaptest ``src/tests/``) included.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import empty_database, pg_url
from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_compliance_fetch import Client, logged_in
from tests.protocol.test_imap_compliance_mailboxes import names, tree
from tests.protocol.test_imap_hostile import status_of

LIMIT = 60  # imap.max_subscriptions of this module's operator


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """The demo operator on SQLite, then on PostgreSQL (MSS_TEST_PG_URL, emptied first)."""
    operator = RunningOperator(tmp_path_factory.mktemp("subscriptions"))
    imap = operator.settings.imap.model_copy(update={"max_subscriptions": LIMIT})
    operator.settings = operator.settings.model_copy(update={"imap": imap})
    if request.param == "postgres":
        url = pg_url()
        if not url:
            pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
        asyncio.run(empty_database(url))
        database = operator.settings.database.model_copy(update={"url": url})
        operator.settings = operator.settings.model_copy(update={"database": database})
    operator.start()
    yield operator
    operator.stop()


@pytest.fixture
def client(running: RunningOperator) -> Iterator[Client]:
    yield from logged_in(running)


def root() -> str:
    return f"S{uuid.uuid4().hex[:8]}"


def tree_of(client: Client, top: str, *children: str) -> None:
    client.ok(f"CREATE {top}/")
    for child in children:
        client.ok(f"CREATE {top}/{child}")


def test_subscribe_a_name_without_a_mailbox(client: Client) -> None:
    top = root()
    client.ok(f"SUBSCRIBE {top}/later")
    assert client.ok(f'LSUB "" {top}/*') == [f'* LSUB (\\Noselect) "/" {top}/later\r\n'.encode()]
    assert client.ok(f'LIST (SUBSCRIBED) "" {top}/*') == [
        f'* LIST (\\NonExistent \\Subscribed) "/" {top}/later\r\n'.encode()
    ]
    # Only the mailboxes that exist, with or without RETURN (SUBSCRIBED).
    assert client.ok(f'LIST "" {top}/*') == []
    assert client.ok(f'LIST "" {top}/* RETURN (SUBSCRIBED)') == []
    # Created later, it is the subscribed mailbox (the subscription is the name).
    client.ok(f"CREATE {top}/later")
    assert client.ok(f'LIST "" {top}/* RETURN (SUBSCRIBED)') == [
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/later\r\n'.encode()
    ]
    assert client.ok(f'LSUB "" {top}/*') == [
        f'* LSUB (\\HasNoChildren) "/" {top}/later\r\n'.encode()
    ]


def test_a_subscription_survives_delete(client: Client) -> None:
    # RFC 9051 §6.3.7: the server SHOULD NOT remove a subscribed name when its mailbox goes.
    top = tree(client, "gone", "kept")
    client.ok(f"SUBSCRIBE {top}/gone")
    client.ok(f"SUBSCRIBE {top}/kept")
    client.ok(f"DELETE {top}/gone")
    assert names(client.ok(f'LSUB "" {top}/*')) == [
        f"{top}/gone".encode(),
        f"{top}/kept".encode(),
    ]
    assert client.ok(f'LIST (SUBSCRIBED) "" {top}/*') == [
        f'* LIST (\\NonExistent \\Subscribed) "/" {top}/gone\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/kept\r\n'.encode(),
    ]
    assert names(client.ok(f'LIST "" {top}/*')) == [f"{top}/kept".encode()]
    _, tagged = client.command(f"SELECT {top}/gone")  # \NonExistent: not selectable
    assert status_of(tagged) == b"NO"


def test_rename_does_not_move_subscriptions(client: Client) -> None:
    # RFC 9051 §6.3.6: subscriptions are not renamed; the client re-subscribes if it wants.
    top = tree(client, "old", "old/child")
    client.ok(f"SUBSCRIBE {top}/old")
    client.ok(f"SUBSCRIBE {top}/old/child")
    client.ok(f"RENAME {top}/old {top}/new")
    assert client.ok(f'LIST (SUBSCRIBED) "" {top}/*') == [
        f'* LIST (\\NonExistent \\Subscribed) "/" {top}/old\r\n'.encode(),
        f'* LIST (\\NonExistent \\Subscribed) "/" {top}/old/child\r\n'.encode(),
    ]
    assert client.ok(f'LIST "" {top}/* RETURN (SUBSCRIBED)') == [
        f'* LIST (\\HasChildren) "/" {top}/new\r\n'.encode(),
        f'* LIST (\\HasNoChildren) "/" {top}/new/child\r\n'.encode(),
    ]


def test_unsubscribe(client: Client) -> None:
    top = root()
    # RFC 9051 §6.3.8: OK for a name that is not subscribed (and for one without a mailbox).
    client.ok(f"UNSUBSCRIBE {top}/never")
    client.ok(f"SUBSCRIBE {top}/name")
    client.ok(f"UNSUBSCRIBE {top}/name")
    client.ok(f"UNSUBSCRIBE {top}/name")
    assert client.ok(f'LSUB "" {top}*') == []
    assert client.ok(f'LIST (SUBSCRIBED) "" {top}*') == []


def test_inbox_is_one_name_in_any_case(client: Client) -> None:
    client.ok("UNSUBSCRIBE inbox")
    assert client.ok('LSUB "" INBOX') == []
    client.ok("SUBSCRIBE InBoX")
    assert client.ok('LSUB "" inbox') == [b'* LSUB (\\HasNoChildren) "/" INBOX\r\n']
    assert client.ok('LIST (SUBSCRIBED) "" INBOX') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" INBOX\r\n'
    ]


def test_the_default_folders_start_subscribed(client: Client) -> None:
    lines = client.ok('LSUB "" %')
    for name in (b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk"):
        assert name in names(lines), lines


def test_parents_that_do_not_exist(client: Client) -> None:
    # RFC 5258 §3.5: a parent of a subscribed name the pattern misses is listed with CHILDINFO,
    # \NonExistent when there is no such mailbox; RFC 3501 §6.3.9: LSUB shows it \Noselect.
    top = root()
    client.ok(f"SUBSCRIBE {top}/a/b")
    assert client.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" {top}/%') == [
        f'* LIST (\\NonExistent) "/" {top}/a ("CHILDINFO" ("SUBSCRIBED"))\r\n'.encode()
    ]
    assert client.ok(f'LIST (SUBSCRIBED) "" {top}/%') == []  # no RECURSIVEMATCH: nothing
    assert client.ok(f'LSUB "" {top}/%') == [f'* LSUB (\\Noselect) "/" {top}/a\r\n'.encode()]
    assert client.ok(f'LSUB "" {top}/%/%') == [f'* LSUB (\\Noselect) "/" {top}/a/b\r\n'.encode()]
    assert client.ok(f'LIST "" {top}*') == []


def test_list_status_skips_names_without_a_mailbox(client: Client) -> None:
    # RFC 5819 §2: no STATUS for a \NonExistent name.
    top = tree(client, "here")
    client.ok(f"SUBSCRIBE {top}/here")
    client.ok(f"SUBSCRIBE {top}/away")
    lines = client.ok(f'LIST (SUBSCRIBED) "" {top}/* RETURN (STATUS (MESSAGES))')
    assert lines == [
        f'* LIST (\\NonExistent \\Subscribed) "/" {top}/away\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/here\r\n'.encode(),
        f"* STATUS {top}/here (MESSAGES 0)\r\n".encode(),
    ]


def test_special_use_selection_skips_names_without_a_mailbox(client: Client) -> None:
    top = root()
    client.ok(f"SUBSCRIBE {top}")
    assert client.ok(f'LIST (SUBSCRIBED SPECIAL-USE) "" {top}*') == []
    lines = client.ok('LIST (SUBSCRIBED SPECIAL-USE) "" Sent')
    assert lines == [b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "/" Sent\r\n']


def test_bad_names_are_refused_and_the_session_goes_on(client: Client) -> None:
    top = root()
    _, tagged = client.command(f'SUBSCRIBE "{top}/st*r"')
    assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[CANNOT]"], tagged
    for bad in ('SUBSCRIBE ""', f"SUBSCRIBE {top}/", f'SUBSCRIBE "{top}//x"'):
        _, tagged = client.command(bad)
        assert status_of(tagged) == b"BAD", (bad, tagged)
    _, tagged = client.command(f'SUBSCRIBE "{top}/{"x" * 300}"')  # longer than a folder name
    assert status_of(tagged) == b"NO", tagged
    assert client.ok(f'LSUB "" {top}*') == []
    client.ok("NOOP")


def test_imaptest_subscribe_script(client: Client) -> None:
    # dovecot/imaptest src/tests/subscribe, with "/" as the separator.
    top = root()
    for name in ("test", "test2", "test2/test", "test3/test3"):
        client.ok(f"UNSUBSCRIBE {top}/{name}")  # the script takes OK or NO; ours: OK
    tree_of(client, top, "test", "test2/", "test3/", "test2/test", "test3/test3")
    _, tagged = client.command(f"CREATE {top}/test2")  # created by "test2/" already
    assert status_of(tagged) == b"NO", tagged
    for name in ("test", "test2/test", "test3/test3"):
        client.ok(f"SUBSCRIBE {top}/{name}")
    assert client.ok(f'LSUB "" {top}/%') == [
        f'* LSUB (\\HasNoChildren) "/" {top}/test\r\n'.encode(),
        f'* LSUB (\\Noselect \\HasChildren) "/" {top}/test2\r\n'.encode(),
        f'* LSUB (\\Noselect \\HasChildren) "/" {top}/test3\r\n'.encode(),
    ]
    assert names(client.ok(f'LSUB "" *{top}*test')) == [
        f"{top}/test".encode(),
        f"{top}/test2/test".encode(),
    ]
    client.ok(f"UNSUBSCRIBE {top}/test")
    assert f"{top}/test".encode() not in names(client.ok(f'LSUB "" {top}/%'))
    client.ok(f"UNSUBSCRIBE {top}/test2/test")
    assert names(client.ok(f'LSUB "" {top}/*')) == [f"{top}/test3/test3".encode()]
    client.ok(f"UNSUBSCRIBE {top}/test3/test3")
    assert client.ok(f'LSUB "" {top}/%') == []


def test_imaptest_listext_script(client: Client) -> None:
    # dovecot/imaptest src/tests/listext: test6 is subscribed, then deleted.
    top = tree(
        client, "test1", "test2/", "test2/test1", "test3", "test4/test5", "test4/test52",
        "test6", "test7/test7", "test8/test8", "test8/test9",
    )  # fmt: skip
    for name in ("test1", "test2/test1", "test6", "test7/test7", "test8/test8", "test8/test9"):
        client.ok(f"SUBSCRIBE {top}/{name}")
    client.ok(f"DELETE {top}/test6")
    assert client.ok(f'LIST (SUBSCRIBED) "" {top}/*') == [
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/test1\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/test2/test1\r\n'.encode(),
        f'* LIST (\\NonExistent \\Subscribed) "/" {top}/test6\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/test7/test7\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/test8/test8\r\n'.encode(),
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {top}/test8/test9\r\n'.encode(),
    ]
    lines = client.ok(f'LIST (SUBSCRIBED RECURSIVEMATCH) "" ({top}/test2)')
    assert lines == [
        f'* LIST (\\HasChildren) "/" {top}/test2 ("CHILDINFO" ("SUBSCRIBED"))\r\n'.encode()
    ]
    lines = client.ok(f'LIST "" ({top}/test7 {top}/test7/test7)')
    assert lines == [
        f'* LIST (\\HasChildren) "/" {top}/test7\r\n'.encode(),
        f'* LIST (\\HasNoChildren) "/" {top}/test7/test7\r\n'.encode(),
    ]


def test_the_number_of_subscriptions_is_capped(client: Client) -> None:
    # Names need no folder: imap.max_subscriptions caps them, NO [LIMIT] (RFC 5530) past it.
    top = root()
    room = LIMIT - len(client.ok('LSUB "" *'))
    added = [f"{top}/n{i}" for i in range(room)]
    try:
        for name in added:
            client.ok(f"SUBSCRIBE {name}")
        _, tagged = client.command(f"SUBSCRIBE {top}/one-more")
        assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[LIMIT]"], tagged
        client.ok(f"SUBSCRIBE {added[0]}")  # already subscribed: still OK
        client.ok("SUBSCRIBE inbox")
        client.ok(f"UNSUBSCRIBE {added.pop()}")
        added.append(f"{top}/one-more")
        client.ok(f"SUBSCRIBE {added[-1]}")
        assert len(client.ok('LSUB "" *')) == LIMIT
    finally:
        for name in added:
            client.ok(f"UNSUBSCRIBE {name}")
