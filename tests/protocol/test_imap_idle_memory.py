"""IDLE over real TLS sockets, as issue 3 counts it in memory: an idling session has no task of
its own (the task that receives the account's changes writes the updates), and yet every update
still reaches the client, and a failure while idling still ends the session cleanly."""

from __future__ import annotations

import asyncio
import imaplib
import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.mail import message

DOCTOR = {"rpps": "10001234567"}


def login(running: RunningOperator) -> imaplib.IMAP4_SSL:
    account = running.account("PER", **DOCTOR)
    client = imaplib.IMAP4_SSL(
        "127.0.0.1", running.port("imaps"), ssl_context=running.client_context(), timeout=30
    )
    client.login(account["address"], account["password"])
    sock: socket.socket = client.sock
    sock.settimeout(10)
    return client


async def _imap_tasks() -> int:
    codes = (getattr(task.get_coro(), "cr_code", None) for task in asyncio.all_tasks())
    return sum(1 for code in codes if code is not None and "/mss/imap/" in code.co_filename)


def imap_tasks(running: RunningOperator) -> int:
    """Tasks of the IMAP sessions (each: the connection's own, and the change pump)."""
    return running.call(_imap_tasks())


def start_idle(client: imaplib.IMAP4_SSL) -> bytes:
    tag: bytes = client._new_tag()
    client.send(tag + b" IDLE\r\n")
    assert client.readline().startswith(b"+ ")
    return tag


def next_line(client: imaplib.IMAP4_SSL) -> bytes:
    """The next line pushed by the server (a socket timeout fails the test)."""
    return client.readline()


def until(client: imaplib.IMAP4_SSL, end: bytes, limit: int = 10) -> list[bytes]:
    lines = [next_line(client)]
    while not lines[-1].endswith(end):
        assert len(lines) < limit, lines
        lines.append(next_line(client))
    return lines


def done(client: imaplib.IMAP4_SSL, tag: bytes) -> bytes:
    client.send(b"DONE\r\n")
    while not (line := client.readline()).startswith(tag):
        pass
    return line


@pytest.fixture
def folder(running: RunningOperator) -> Iterator[tuple[str, imaplib.IMAP4_SSL]]:
    other = login(running)
    name = f"I{uuid.uuid4().hex[:8]}"
    assert other.create(name)[0] == "OK"
    for n in range(2):
        typ, _ = other.append(name, "", None, message("a@example.org", f"b{n}@example.org"))
        assert typ == "OK"
    yield name, other
    other.logout()


def test_idle_has_no_task_of_its_own(running: RunningOperator) -> None:
    clients = [login(running) for _ in range(4)]
    for client in clients:
        client.select("INBOX")
    before = imap_tasks(running)
    assert before >= 2 * len(clients)
    tags = [start_idle(client) for client in clients]
    assert imap_tasks(running) == before  # issue 3: 2,000 of them are counted in memory
    for client, tag in zip(clients, tags, strict=True):
        assert b" OK " in done(client, tag)
        client.logout()


def test_updates_reach_an_idling_client(
    running: RunningOperator, folder: tuple[str, imaplib.IMAP4_SSL]
) -> None:
    name, other = folder
    client = login(running)
    client.select(name)
    tag = start_idle(client)
    other.select(name)
    other.store("1", "+FLAGS", "(\\Flagged)")
    assert b"FLAGS (\\Flagged" in until(client, b")\r\n")[-1]
    other.append(name, "", None, message("a@example.org", "c@example.org"))
    assert until(client, b" EXISTS\r\n")[-1] == b"* 3 EXISTS\r\n"
    other.store("2", "+FLAGS", "(\\Deleted)")
    other.expunge()
    assert until(client, b" EXPUNGE\r\n")[-1] == b"* 2 EXPUNGE\r\n"
    assert b" OK " in done(client, tag)
    assert client.noop()[0] == "OK"  # the session goes on after IDLE
    client.logout()


def test_deleting_the_idling_mailbox_ends_the_session_with_bye(
    running: RunningOperator, folder: tuple[str, imaplib.IMAP4_SSL]
) -> None:
    name, other = folder
    client = login(running)
    client.select(name)
    start_idle(client)
    assert other.delete(name)[0] == "OK"
    seen = b""
    while line := next_line(client):  # until EOF
        seen += line
    client.shutdown()
    assert b"* BYE " in seen  # then EOF: the failure reached the session's own task
    assert login(running).logout()[0] == "BYE"  # the server keeps serving


def test_an_idling_client_that_stays_silent_is_logged_out(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """RFC 3501 §5.4: the autologout timer runs in IDLE too (the read in the session's task)."""
    running = RunningOperator(tmp_path_factory.mktemp("idle-timeout"))
    imap = running.settings.imap.model_copy(update={"idle_timeout": 0.5})
    running.settings = running.settings.model_copy(update={"imap": imap})
    running.start()
    try:
        client = login(running)
        client.select("INBOX")
        start_idle(client)
        seen = b""
        while line := next_line(client):  # until EOF
            seen += line
        client.shutdown()
        assert b"* BYE Autologout" in seen
    finally:
        running.stop()
