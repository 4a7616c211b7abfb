"""Hostile IMAP clients over real TLS sockets against the demo operator (issue 3).

Each case gets the right tagged reply or a clean close (``* BYE`` then EOF), and afterwards a new
connection logs in and is served (the autouse fixture ``still_serving`` checks it after every
test). The operator of this module answers failed logins after ``DELAY`` seconds (the protocol
tests' default is no delay) and cuts clients that leave replies unread for ``WRITE_TIMEOUT``.

:class:`RawImap` is a deliberately dumb client: it sends exactly the bytes it is given and reads
responses line by line (with literals), in order, so tests see precisely what the server sent.
The state-machine test reuses it.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import resource
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from mailbox_store.models import Delivery
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import message

DELAY = 0.1  # imap.auth_failure_delay of this module's operator (doubles per failure)
DELAY_MAX = 1.6  # imap.auth_failure_delay_max of this module's operator
WRITE_TIMEOUT = 3.0  # imap.write_timeout of this module's operator
MAX_BAD = 20  # imap.max_bad_commands (the default)
DOCTOR = {"rpps": "10001234567"}
NURSE = {"rpps": "10007654321"}
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Closed(Exception):
    """The server closed the connection."""


class RawImap:
    """One TLS connection speaking raw IMAP; responses are returned in the order received."""

    opened: ClassVar[list[RawImap]] = []  # closed after each test by close_all()

    def __init__(
        self,
        running: RunningOperator,
        *,
        timeout: float = 15.0,
        rcvbuf: int = 0,
        source: str | None = None,
    ) -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source is not None:  # another loopback address: another peer for the server
            raw.bind((source, 0))
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect(("127.0.0.1", running.port("imaps")))
        self.sock = running.client_context().wrap_socket(raw)
        self.file = self.sock.makefile("rb")
        self.running = running
        self.counter = 0
        RawImap.opened.append(self)
        self.greeting = self.readline()
        assert self.greeting.startswith(b"* OK "), self.greeting

    # -- bytes ---------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> bytes:
        line = self.file.readline()
        if not line:
            raise Closed
        return line

    def response(self) -> bytes:
        """One response line with its literals inlined (``{n}`` CRLF followed by n bytes)."""
        line = self.readline()
        parts = [line]
        while (found := _LITERAL.search(line)) is not None:
            size = int(found.group(1))
            data = self.file.read(size)
            if len(data) != size:
                raise Closed
            parts.append(data)
            line = self.readline()
            parts.append(line)
        return b"".join(parts)

    # -- commands ------------------------------------------------------------------------

    def tag(self) -> bytes:
        self.counter += 1
        return b"h%d" % self.counter

    def until_tagged(self, tag: bytes) -> tuple[list[bytes], bytes]:
        untagged: list[bytes] = []
        while True:
            line = self.response()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    def command(self, text: bytes | str) -> tuple[list[bytes], bytes]:
        """Send ``tag text`` CRLF; return (the untagged responses, the tagged line)."""
        data = text.encode() if isinstance(text, str) else text
        tag = self.tag()
        self.send(tag + b" " + data + b"\r\n")
        return self.until_tagged(tag)

    def ok(self, text: bytes | str) -> list[bytes]:
        untagged, tagged = self.command(text)
        assert tagged.split(b" ", 2)[1] == b"OK", tagged
        return untagged

    def login(self, **match: str) -> RawImap:
        account = self.running.account("PER", **(match or DOCTOR))
        self.ok(f'LOGIN "{account["address"]}" "{account["password"]}"')
        return self

    def expect_bye(self, wait: float = 15.0) -> bytes:
        """Read until EOF; return everything read (which must hold ``* BYE``)."""
        self.sock.settimeout(wait)
        seen = b""
        try:
            while True:
                seen += self.readline()
        except (Closed, ConnectionError, ssl.SSLError):
            pass
        return seen

    def close(self) -> None:
        for closable in (self.file, self.sock):
            with contextlib.suppress(OSError):
                closable.close()

    @classmethod
    def close_all(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()


def status_of(tagged: bytes) -> bytes:
    return tagged.split(b" ", 2)[1]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOperator]:
    operator = RunningOperator(tmp_path_factory.mktemp("hostile"))
    imap = operator.settings.imap.model_copy(
        update={
            "auth_failure_delay": DELAY,
            "auth_failure_delay_max": DELAY_MAX,
            "write_timeout": WRITE_TIMEOUT,
        }
    )
    operator.settings = operator.settings.model_copy(update={"imap": imap})
    operator.start()
    yield operator
    operator.stop()


@pytest.fixture(autouse=True)
def still_serving(running: RunningOperator) -> Iterator[None]:
    yield
    RawImap.close_all()
    client = RawImap(running).login()
    client.ok("NOOP")
    client.ok("SELECT INBOX")
    client.ok("LOGOUT")
    client.close()


def folder_with(running: RunningOperator, count: int, size: int = 0) -> str:
    """A fresh folder of the doctor's holding ``count`` messages (through the store)."""
    account = running.account("PER", **DOCTOR)["address"]
    name = f"H{uuid.uuid4().hex[:8]}"
    filler = "x" * 76 + "\n"

    async def build() -> None:
        store = running.operator.store
        await store.create_folder(account, name)
        for n in range(count):
            body = filler * (size // 77) if size else f"message {n}\n"
            data = message("a@example.org", account, subject=f"M{n}", body=body)
            await store.deliver(data, [Delivery(account, name)])

    running.call(build())
    return name


def messages_in(running: RunningOperator, name: str) -> int:
    account = running.account("PER", **DOCTOR)["address"]

    async def count() -> int:
        store = running.operator.store
        folder = await store.get_folder(account, name)
        assert folder is not None
        return len(await store.list_messages(folder.id))

    return running.call(count())


# -- literals -------------------------------------------------------------------------------


def test_append_literal_over_the_limit_is_refused_before_it_is_sent(
    running: RunningOperator,
) -> None:
    client = RawImap(running).login()
    name = folder_with(running, 0)
    too_big = running.settings.imap.max_literal + 1
    tag = client.tag()
    client.send(tag + f" APPEND {name} {{{too_big}}}\r\n".encode())
    line = client.response()
    assert not line.startswith(b"+"), "a continuation was sent for a literal over the limit"
    assert line.startswith(tag + b" NO [TOOBIG]") or line.startswith(tag + b" BAD"), line
    # The refused bytes are not sent (the client obeys); the session goes on.
    client.ok("NOOP")
    assert messages_in(running, name) == 0
    client.close()


def test_append_literal8_over_the_limit_is_refused_before_it_is_sent(
    running: RunningOperator,
) -> None:
    """RFC 3516 ``~{n}`` (BINARY) gets the same cap as ``{n}``: no continuation, nothing read."""
    client = RawImap(running).login()
    name = folder_with(running, 0)
    too_big = running.settings.imap.max_literal + 1
    tag = client.tag()
    client.send(tag + f" APPEND {name} ~{{{too_big}}}\r\n".encode())
    line = client.response()
    assert not line.startswith(b"+"), "a continuation was sent for a literal8 over the limit"
    assert line.startswith(tag + b" NO [TOOBIG]") or line.startswith(tag + b" BAD"), line
    client.ok("NOOP")  # the session goes on
    assert messages_in(running, name) == 0
    client.close()


def test_small_literal_in_an_ordinary_argument_is_limited(running: RunningOperator) -> None:
    client = RawImap(running).login()
    tag = client.tag()
    client.send(tag + b" SELECT {100000}\r\n")  # 64 KiB cap outside APPEND
    line = client.response()
    assert not line.startswith(b"+")
    assert line.startswith(tag + b" NO") or line.startswith(tag + b" BAD"), line
    client.ok("NOOP")
    client.close()


def test_non_synchronising_literal_over_the_limit_closes_and_is_never_executed(
    running: RunningOperator,
) -> None:
    client = RawImap(running).login()
    too_big = running.settings.imap.max_literal + 1
    evil = f"E{uuid.uuid4().hex[:8]}"
    # RFC 7888 §4: the bytes are already on their way; they must not be read as commands.
    payload = f"x1 CREATE {evil}\r\n".encode() * 64
    client.send(f"h1 APPEND INBOX {{{too_big}+}}\r\n".encode() + payload)
    seen = client.expect_bye()
    assert b"* BYE" in seen
    assert b"x1 OK" not in seen
    checker = RawImap(running).login()
    listing = b"".join(checker.ok('LIST "" "*"'))
    assert evil.encode() not in listing
    checker.close()


def test_client_vanishing_mid_append_literal_stores_nothing(running: RunningOperator) -> None:
    name = folder_with(running, 0)
    body = message("a@example.org", "b@example.org", body="y" * 5000)
    client = RawImap(running).login()
    client.send(f"h1 APPEND {name} {{{len(body)}}}\r\n".encode())
    assert client.readline().startswith(b"+")
    client.send(body[: len(body) // 2])
    client.close()
    plus = RawImap(running).login()  # the same with LITERAL+, no continuation
    plus.send(f"h1 APPEND {name} {{{len(body)}+}}\r\n".encode() + body[:100])
    plus.close()
    time.sleep(0.5)
    assert messages_in(running, name) == 0
    checker = RawImap(running).login()
    untagged = checker.ok(f"STATUS {name} (MESSAGES)")
    assert any(b"(MESSAGES 0)" in line for line in untagged), untagged
    checker.close()


# -- syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        b"FETCH 1 (FLAGS",
        b"FETCH 1 FLAGS)",
        b"FETCH 1 (FLAGS (UID)",
        b"SEARCH (ALL",
        b"SEARCH ALL)",
        b"SEARCH " + b"(" * 10000 + b"ALL" + b")" * 10000,
        b"SEARCH " + b"NOT " * 10000 + b"ALL",
        b"SEARCH " + b"OR ALL " * 5000 + b"ALL",
        b"FETCH 1 " + b"(" * 10000 + b"FLAGS" + b")" * 10000,
        b'STORE 1 +FLAGS ("\\Seen)',
    ],
    ids=[
        "fetch-open",
        "fetch-close",
        "fetch-nested",
        "search-open",
        "search-close",
        "search-deep-parens",
        "search-deep-not",
        "search-deep-or",
        "fetch-deep",
        "store-quote",
    ],
)
def test_unbalanced_and_deep_parentheses(running: RunningOperator, command: bytes) -> None:
    name = folder_with(running, 2)
    client = RawImap(running).login()
    client.ok(f"SELECT {name}")
    started = time.monotonic()
    _, tagged = client.command(command)
    assert status_of(tagged) == b"BAD", tagged
    assert time.monotonic() - started < 5
    client.ok("NOOP")
    client.close()


def test_huge_sequence_sets(running: RunningOperator) -> None:
    name = folder_with(running, 3)
    client = RawImap(running).login()
    client.ok(f"SELECT {name}")
    untagged = client.ok("UID FETCH 1:4294967295 (UID FLAGS)")
    assert len([u for u in untagged if b" FETCH " in u]) == 3
    uids = sorted(int(re.search(rb"UID (\d+)", u).group(1)) for u in untagged)  # type: ignore[union-attr]
    untagged = client.ok("UID SEARCH UID 1:4294967295")
    assert [int(n) for n in untagged[-1].split()[2:]] == uids
    _, tagged = client.command("UID FETCH 1:4294967296 (FLAGS)")  # beyond nz-number
    assert status_of(tagged) == b"BAD", tagged
    _, tagged = client.command("FETCH 1:4294967295 (FLAGS)")  # RFC 3501 §9: OK or BAD
    assert status_of(tagged) in (b"OK", b"BAD"), tagged
    # 10,000 comma-separated elements (short enough for one line): answered promptly and
    # correctly, or refused with BAD.
    many = ",".join(f"{n}:{n + 1}" if n % 7 == 0 else str(n) for n in range(1, 20000, 2))
    assert len(many) < running.settings.imap.max_line_length - 100
    started = time.monotonic()
    untagged, tagged = client.command(f"UID FETCH {many} (UID)")
    assert time.monotonic() - started < 5
    if status_of(tagged) == b"OK":
        bounds = [[int(n) for n in part.split(":")] for part in many.split(",")]
        wanted = {n for b in bounds for n in range(b[0], b[-1] + 1)}
        assert len([u for u in untagged if b" FETCH " in u]) == len(set(uids) & wanted)
    else:
        assert status_of(tagged) == b"BAD", tagged
    _, tagged = client.command(f"UID STORE {many} +FLAGS (\\Seen)")
    assert status_of(tagged) in (b"OK", b"BAD"), tagged
    client.ok("NOOP")
    client.close()


@pytest.mark.parametrize(
    ("login", "command"),
    [
        (False, "SELECT INBOX"),
        (False, "FETCH 1 (FLAGS)"),
        (False, 'LIST "" "*"'),
        (False, "APPEND INBOX {3+}\r\nabc"),
        (True, "FETCH 1 (FLAGS)"),
        (True, "STORE 1 +FLAGS (\\Seen)"),
        (True, "EXPUNGE"),
        (True, "CLOSE"),
        (True, "LOGIN a b"),
        (True, "AUTHENTICATE PLAIN"),
        (True, "STARTTLS"),
    ],
)
def test_commands_in_the_wrong_state(running: RunningOperator, login: bool, command: str) -> None:
    client = RawImap(running)
    if login:
        client.login()
    _, tagged = client.command(command)
    assert status_of(tagged) in (b"BAD", b"NO"), tagged
    assert status_of(client.command("NOOP")[1]) == b"OK"
    if not login:
        client.login()  # the session still works and can log in
    client.close()


@pytest.mark.parametrize(
    "name",
    [
        "&AGE-",  # "a" shifted: printable ASCII must not be encoded
        "&Jjo",  # no terminating "-"
        "&Jjo!-",  # not base64
        "&2D0-",  # a lone high surrogate
        "&AAA-",  # NUL
        "&-&AC0",  # unterminated after a valid &-
        "&Jj-",  # bits left over
    ],
)
def test_invalid_modified_utf7(running: RunningOperator, name: str) -> None:
    source = folder_with(running, 0)
    client = RawImap(running).login()
    for text in (
        f'CREATE "{name}"',
        f'SELECT "{name}"',
        f'STATUS "{name}" (MESSAGES)',
        f'RENAME {source} "{name}"',
    ):
        _, tagged = client.command(text)
        assert status_of(tagged) in (b"BAD", b"NO"), (text, tagged)
    _, tagged = client.command(f'LIST "" "{name}"')  # a pattern: matching nothing is fine
    assert status_of(tagged) in (b"OK", b"BAD", b"NO"), tagged
    listing = b"".join(client.ok('LIST "" "*"'))
    assert f'"{name}"'.encode() not in listing
    assert f" {name}\r\n".encode() not in listing
    client.close()


def test_nul_bytes(running: RunningOperator) -> None:
    client = RawImap(running).login()
    for bad in (b"NOOP\x00", b'SELECT "IN\x00BOX"', b"SELECT IN\x00BOX", b"\x00\x00\x00"):
        _, tagged = client.command(bad)
        assert status_of(tagged) == b"BAD", (bad, tagged)
    client.send(b"\x00 NOOP\r\n")
    line = client.response()
    assert b"BAD" in line.split(b" ", 2)[1], line
    client.ok("NOOP")
    client.close()


def test_overlong_line_closes_cleanly(running: RunningOperator) -> None:
    client = RawImap(running).login()
    limit = running.settings.imap.max_line_length
    client.send(b"h1 NOOP " + b"a" * (limit + 10) + b"\r\n")
    seen = client.expect_bye()
    assert b"* BYE" in seen
    endless = RawImap(running)  # a line that never ends is not buffered without bound
    try:
        for _ in range(64):
            endless.send(b"a" * 65536)
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    endless.expect_bye()  # closed (a read timeout would fail); the BYE may be lost in the reset


def test_starttls_command_injection_is_refused(running: RunningOperator) -> None:
    # MSS-TLS-2; RFC 3501 §11.1, RFC 2595 §3.1: a command sent along with STARTTLS (a
    # man-in-the-middle's) must never be executed inside the TLS session.
    raw = socket.create_connection(("127.0.0.1", running.port("imap")), timeout=15)
    file = raw.makefile("rb")
    try:
        assert file.readline().startswith(b"* OK")
        raw.sendall(b"a STARTTLS\r\nb CREATE Injected\r\n")
        line = file.readline()
        assert line.startswith(b"a BAD") or line.startswith(b"a OK"), line
        if line.startswith(b"a OK"):  # then the injected line must have been discarded
            tls = running.client_context().wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"c NOOP\r\n")
            assert tls.recv(4096).startswith(b"c OK")
            tls.close()
        else:  # still in plain text, not logged in: the injected command is refused too
            injected = file.readline()
            assert injected.startswith(b"b BAD") or injected.startswith(b"b NO"), injected
    finally:
        file.close()
        raw.close()
    checker = RawImap(running).login()
    listing = b"".join(checker.ok('LIST "" "*"'))
    assert b"Injected" not in listing


def test_garbage_instead_of_done_ends_idle_with_bad(running: RunningOperator) -> None:
    client = RawImap(running).login()
    client.ok("SELECT INBOX")
    client.send(b"h1 IDLE\r\n")
    assert client.readline().startswith(b"+")
    client.send(b"h2 NOOP\r\n")
    _, tagged = client.until_tagged(b"h1")
    assert status_of(tagged) == b"BAD", tagged
    client.ok("NOOP")


@pytest.mark.parametrize(
    "exchange",
    [
        b"AUTHENTICATE PLAIN !!notbase64!!",
        b"AUTHENTICATE PLAIN " + b"A" * 1000,  # base64 of no valid PLAIN message
        b"AUTHENTICATE PLAIN AGZvbw==",  # "\0foo": no password part
        b"AUTHENTICATE CRAM-MD5",
        b"AUTHENTICATE",
    ],
)
def test_malformed_authenticate(running: RunningOperator, exchange: bytes) -> None:
    client = RawImap(running, source="127.0.0.61", timeout=60)
    _, tagged = client.command(exchange)
    assert status_of(tagged) in (b"BAD", b"NO"), tagged
    client.login()


def test_storm_of_bad_commands_disconnects(running: RunningOperator) -> None:
    client = RawImap(running)
    for n in range(MAX_BAD - 1):
        _, tagged = client.command(b"GARBAGE%d )(" % n)
        assert status_of(tagged) == b"BAD"
    client.send(b"h99 GARBAGE\r\n")
    seen = client.expect_bye()
    assert b"h99 BAD" in seen
    assert b"* BYE" in seen


# -- password guessing ----------------------------------------------------------------------
# Every guessing test connects from its own loopback address (127.0.0.N: the peer the server
# sees) and guesses logins no other test uses, so the per-peer and per-login counts of one test
# do not slow the others down.


def guess(client: RawImap, username: str) -> float:
    """One failed LOGIN; the seconds it took."""
    started = time.monotonic()
    _, tagged = client.command(f'LOGIN "{username}" "wrong{uuid.uuid4().hex[:6]}"')
    assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[AUTHENTICATIONFAILED]"], tagged
    return time.monotonic() - started


def nobody() -> str:
    return f"nobody-{uuid.uuid4().hex[:8]}@hopital-demo.mssante.fr"


def grows(delays: list[float]) -> None:
    assert min(delays) >= DELAY * 0.9, delays  # every failure is delayed
    assert all(b > a for a, b in itertools.pairwise(delays)), delays
    assert delays[-1] > 2 * delays[0], delays  # the nth failure waits longer than the first


def test_failures_on_one_connection_wait_longer_and_longer(running: RunningOperator) -> None:
    client = RawImap(running, source="127.0.0.11", timeout=60)
    grows([guess(client, nobody()) for _ in range(5)])


def test_guessing_one_login_from_many_peers_is_slowed_down(running: RunningOperator) -> None:
    # Per login: a guesser changing address and connection for each try is not faster.
    login = nobody()
    delays = []
    for n in range(5):
        client = RawImap(running, source=f"127.0.0.{21 + n}", timeout=60)
        delays.append(guess(client, login))
        client.close()
    grows(delays)


def test_guessing_many_logins_from_one_peer_is_slowed_down(running: RunningOperator) -> None:
    # Per peer: password spraying (one password, many logins), a new connection for each.
    delays = []
    for _ in range(5):
        client = RawImap(running, source="127.0.0.31", timeout=60)
        delays.append(guess(client, nobody()))
        client.close()
    grows(delays)


def test_guessing_does_not_slow_down_other_users(running: RunningOperator) -> None:
    account = running.account("PER", **NURSE)
    guesser = RawImap(running, source="127.0.0.41", timeout=60)
    for _ in range(4):
        guess(guesser, account["address"])
    worker = threading.Thread(target=guess, args=(guesser, account["address"]))
    worker.start()  # this one waits the longest: others are served meanwhile
    time.sleep(0.05)
    started = time.monotonic()
    other = RawImap(running, source="127.0.0.42").login(**DOCTOR)
    other.ok("NOOP")
    # The guesser now waits DELAY_MAX; half of it tells "not made to wait" on a loaded machine.
    assert time.monotonic() - started < DELAY_MAX / 2
    worker.join()
    # The right password from another peer: served (after at most the login's wait), and it
    # clears the login's count.
    owner = RawImap(running, source="127.0.0.43", timeout=60).login(**NURSE)
    owner.ok("NOOP")
    started = time.monotonic()
    RawImap(running, source="127.0.0.44").login(**NURSE)
    assert time.monotonic() - started < DELAY_MAX / 2  # uncleared, it would wait DELAY_MAX


def test_failed_logins_count_toward_the_bad_command_limit(running: RunningOperator) -> None:
    client = RawImap(running, source="127.0.0.51", timeout=60)
    for n in range(MAX_BAD - 1):
        _, tagged = client.command(b"GARBAGE%d" % n)
        assert status_of(tagged) == b"BAD"
    client.send(f'h999 LOGIN "{nobody()}" "nope"\r\n'.encode())  # the MAX_BAD-th: a failure
    seen = client.expect_bye(wait=60)
    assert b"h999 OK" not in seen
    assert b"* BYE" in seen  # a clean close (the tagged NO before it is optional)


# -- a client that stops reading ------------------------------------------------------------


def rss() -> int:
    """Resident memory of this process (the operator runs in it), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.slow
def test_client_that_stops_reading_mid_fetch(running: RunningOperator) -> None:
    count, size = 40, 1024 * 1024
    name = folder_with(running, count, size)
    stalled = RawImap(running, rcvbuf=4096, timeout=60).login()
    stalled.ok(f"SELECT {name}")
    before = rss()
    stalled.send(b"h1 FETCH 1:* (BODY.PEEK[])\r\n")  # ~40 MB of replies, never read
    time.sleep(1.0)
    grown = rss() - before
    assert grown < count * size // 3, f"server memory grew by {grown} bytes"
    # Other clients are served meanwhile, including a FETCH on the same folder.
    other = RawImap(running).login()
    started = time.monotonic()
    other.ok(f"EXAMINE {name}")
    untagged = other.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: M0" in b"".join(untagged)
    assert time.monotonic() - started < 2
    other.close()
    # The stalled client is cut after the write timeout: what it can still read ends (EOF, not
    # a read timeout) before the end of the FETCH.
    time.sleep(WRITE_TIMEOUT + 2)
    stalled.sock.settimeout(10)
    received = 0
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        while chunk := stalled.file.read1(1 << 20):
            received += len(chunk)
            assert b"h1 OK" not in chunk
    assert received < count * size


def test_list_pattern_is_not_a_regex_bomb(running: RunningOperator) -> None:
    # Wildcards translated to a backtracking regex cost exponential time in the number of
    # wildcards: ``*%`` x 8 took two minutes on one 9-character name, with the event loop (every
    # client) blocked. Five pairs on a 26-character name stay measurable (seconds) if broken.
    client = RawImap(running, timeout=120).login()
    client.ok(f"CREATE {'a' * 26}")
    started = time.monotonic()
    _, tagged = client.command('LIST "" "' + "*%" * 5 + 'x"')
    elapsed = time.monotonic() - started
    assert status_of(tagged) in (b"OK", b"BAD", b"NO"), tagged
    client.ok(f"DELETE {'a' * 26}")
    assert elapsed < 0.5, f"LIST took {elapsed:.1f} s"


# -- RFC corners a strict tester checks ------------------------------------------------------


def test_failed_select_leaves_the_selected_state(running: RunningOperator) -> None:
    # RFC 3501 §6.3.1: a failed SELECT deselects the mailbox that was selected.
    client = RawImap(running).login()
    client.ok("SELECT INBOX")
    _, tagged = client.command(f"SELECT Missing{uuid.uuid4().hex[:6]}")
    assert status_of(tagged) == b"NO", tagged
    _, tagged = client.command("FETCH 1 (FLAGS)")
    assert status_of(tagged) == b"BAD", tagged


def test_trycreate_on_append_and_copy_to_a_missing_mailbox(running: RunningOperator) -> None:
    name = folder_with(running, 1)
    missing = f"Missing{uuid.uuid4().hex[:6]}"
    client = RawImap(running).login()
    client.send(f"h1 APPEND {missing} {{5+}}\r\nHello\r\n".encode())
    _, tagged = client.until_tagged(b"h1")
    assert tagged.startswith(b"h1 NO [TRYCREATE]"), tagged
    client.ok(f"SELECT {name}")
    _, tagged = client.command(f"COPY 1 {missing}")
    assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[TRYCREATE]"], tagged


def test_examine_is_read_only(running: RunningOperator) -> None:
    name = folder_with(running, 2)
    client = RawImap(running).login()
    untagged = client.ok(f"EXAMINE {name}")
    _, tagged = client.command("STORE 1 +FLAGS (\\Seen)")
    assert status_of(tagged) == b"NO", tagged
    client.ok("FETCH 1 (BODY[])")  # no implicit \Seen in a read-only mailbox
    untagged = client.ok("FETCH 1 (FLAGS)")
    assert b"\\Seen" not in b"".join(untagged)
    _, tagged = client.command("EXPUNGE")
    assert status_of(tagged) == b"NO", tagged


def test_fetch_body_sets_seen_and_reports_it(running: RunningOperator) -> None:
    name = folder_with(running, 1)
    client = RawImap(running).login()
    client.ok(f"SELECT {name}")
    untagged = client.ok("FETCH 1 (BODY[TEXT])")
    assert b"\\Seen" in b"".join(untagged)  # RFC 3501 §6.4.5: FLAGS reported with the change


def test_close_expunges_silently(running: RunningOperator) -> None:
    name = folder_with(running, 3)
    client = RawImap(running).login()
    client.ok(f"SELECT {name}")
    client.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    untagged = client.ok("CLOSE")
    assert not any(b"EXPUNGE" in line for line in untagged), untagged
    assert messages_in(running, name) == 2


def test_empty_mailbox_sequence_sets(running: RunningOperator) -> None:
    name = folder_with(running, 0)
    client = RawImap(running).login()
    client.ok(f"SELECT {name}")
    assert client.ok("UID FETCH 1:* (FLAGS)") == []
    assert client.ok("UID SEARCH ALL") == [b"* SEARCH\r\n"]
    _, tagged = client.command("FETCH 1 (FLAGS)")  # no message 1: BAD (RFC 3501 §9 note)
    assert status_of(tagged) in (b"BAD", b"NO"), tagged
    _, tagged = client.command("FETCH * (FLAGS)")
    assert status_of(tagged) in (b"BAD", b"NO", b"OK"), tagged


def test_eight_bit_mailbox_names_are_refused(running: RunningOperator) -> None:
    client = RawImap(running).login()
    _, tagged = client.command('CREATE "Caf\xc3\xa9"'.encode("latin-1"))
    assert status_of(tagged) in (b"BAD", b"NO"), tagged


ODD = [
    b"UID",
    b"UID FOO 1",
    b"DONE",
    b"FETCH 1 BODY[]<0.0>",
    b"FETCH 1 BODY[]<4294967295.1>",
    b"FETCH 1 BODY[]<0.4294967296>",
    b"FETCH 1 BODY[" + b"1." * 200 + b"1]",
    b"FETCH 1 BODY[HEADER.FIELDS ()]",
    b"FETCH 1 BODY[HEADER.FIELDS (" + b"X-A " * 900 + b"X-B)]",
    b"FETCH 1 BINARY[1]",
    b"FETCH 1 BINARY[2.1]<0.10>",
    b"FETCH 1 (MODSEQ)",
    b"FETCH 1:* (FLAGS) (CHANGEDSINCE 0)",
    b"FETCH 1:* (FLAGS) (CHANGEDSINCE 18446744073709551615)",
    b"FETCH 1:* (FLAGS) (CHANGEDSINCE 18446744073709551616)",
    b"STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)",
    b"STORE 1 +FLAGS (\\Recent)",
    b"STORE 1 +FLAGS (\\Nonexistent)",
    b"STORE 1 +FLAGS (" + b"k" * 5000 + b")",
    b"STORE 1 +FLAGS (" + b" ".join(b"kw%d" % n for n in range(900)) + b")",
    b"SEARCH CHARSET X-UNKNOWN ALL",
    b"SEARCH CHARSET UTF-8 SUBJECT {4}\r\n\xff\xfe\xfd\xfc",
    b'SEARCH HEADER "" ""',
    b"SEARCH SENTBEFORE 31-Feb-2024",
    b"SEARCH BEFORE 1-Jan-0000",
    b"SEARCH LARGER 18446744073709551616",
    b"SEARCH MODSEQ 0",
    b"SEARCH RETURN (MIN MAX COUNT ALL SAVE) ALL",
    b"SEARCH 4294967295",
    b"SEARCH UID 0",
    b"SEARCH $",
    b"ESEARCH",
    b"RENAME INBOX INBOX",
    b"DELETE INBOX",
    b"CREATE INBOX",
    b"CREATE " + b"a/" * 500 + b"a",
    b"CREATE " + b"b" * 5000,
    b'CREATE ""',
    b'CREATE "/"',
    b'CREATE "x/"',
    b'LIST "" %',
    b'LIST "" "*%*%x"',
    b'LIST (SPECIAL-USE RECURSIVEMATCH) "" "*" RETURN (CHILDREN STATUS (MESSAGES))',
    b'LIST (RECURSIVEMATCH) "" "*"',
    b'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN HIGHESTMODSEQ SIZE))',
    b"STATUS INBOX ()",
    b"STATUS INBOX (MESSAGES MESSAGES)",
    b"STATUS INBOX (DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)",
    b'GETQUOTA ""',
    b"GETQUOTA nonexistent",
    b"GETQUOTAROOT nonexistent",
    b'SETQUOTA "" (STORAGE 1)',
    b"ENABLE CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2 X-UNKNOWN",
    b'ID ("name" "' + b"n" * 2000 + b'")',
    b"ID (" + b" ".join(b'"k%d" "v"' % n for n in range(100)) + b")",
    b"ID NIL",
    b"ID ()",
    b"NAMESPACE extra",
    b'COPY 1:* ""',
    b"MOVE 1 INBOX",
    b"UID EXPUNGE 0",
    b"UID EXPUNGE *",
    b'APPEND INBOX () " 1-Jan-2024 00:00:00 +0000" {0+}\r\n',
    b'APPEND INBOX (\\Seen) "31-Feb-2024 00:00:00 +0000" {5+}\r\nHello',
    b"APPEND INBOX (\\Recent) {5+}\r\nHello",
    b"APPEND INBOX {5+}\r\nH\x00llo",
    b"APPEND INBOX {5+}\r\nHello {5+}\r\nHello",
    b"APPEND INBOX (\\Seen) {5+}\r\nHello (\\Seen) {5+}\r\nWorld",
]


@pytest.mark.parametrize("command", ODD, ids=range(len(ODD)))
def test_odd_commands_get_an_answer_not_an_internal_error(
    running: RunningOperator, command: bytes
) -> None:
    # Whatever the verdict, a proper tagged reply, never [SERVERBUG], and the session goes on.
    name = folder_with(running, 2)
    client = RawImap(running).login()
    client.ok(f"SELECT {name}")
    started = time.monotonic()
    _, tagged = client.command(command)
    assert status_of(tagged) in (b"OK", b"NO", b"BAD"), tagged
    assert b"SERVERBUG" not in tagged, tagged
    assert time.monotonic() - started < 5
    client.ok("NOOP")
