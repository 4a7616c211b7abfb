"""Hostile input on SMTP: each gets a clear reply or a clean close, nothing partial is stored,
and the server keeps serving (MSS-MSG-5, SEC-IN-*)."""

from __future__ import annotations

import re
import socket
import ssl
import time
from pathlib import Path

from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, mx_client

PEER_SENDER = "dr.bernard@operateur-pair.mssante.fr"


def doctor(running: RunningOperator) -> str:
    return str(running.account("PER", rpps="10001234567")["address"])


class RawSession:
    """A line-level SMTP client over TLS with the peer certificate, for malformed input."""

    def __init__(self, running: RunningOperator, operator: str | None = "peer_operator") -> None:
        raw = socket.create_connection(("127.0.0.1", running.port("mx")), timeout=30)
        self.file = raw.makefile("rb")
        self.sock: socket.socket = raw
        self.read_reply()
        self.command(b"EHLO peer.test")
        self.command(b"STARTTLS")
        context = running.client_context(operator)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.command(b"EHLO peer.test")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def command(self, line: bytes) -> tuple[int, bytes]:
        self.send(line + b"\r\n")
        return self.read_reply()

    def start_data(self, to: str) -> None:
        """MAIL, RCPT and DATA accepted: what is sent next is message data."""
        assert self.command(f"MAIL FROM:<{PEER_SENDER}>".encode())[0] == 250
        assert self.command(f"RCPT TO:<{to}>".encode())[0] == 250
        assert self.command(b"DATA")[0] == 354

    def close(self) -> None:
        self.sock.close()


def enhanced(reply: tuple[int, bytes]) -> tuple[int, bytes]:
    return reply[0], reply[1].split(b" ")[1]


def still_serving(running: RunningOperator) -> None:
    to = doctor(running)
    with mx_client(running) as client:
        assert client.sendmail(PEER_SENDER, [to], message(PEER_SENDER, to)) == {}


def test_smtp_smuggling_bare_lf_is_refused(running: RunningOperator) -> None:
    """MSS-MSG-5: bare LF (and the `\\n.\\n` smuggling trick) in DATA is refused with 5.5.2."""
    to = doctor(running)
    before = len(inbox(running, to))
    session = RawSession(running)
    session.start_data(to)
    smuggled = (
        b"Subject: a\r\n\r\nhello\n.\nMAIL FROM:<x@evil.example>\nRCPT TO:<"
        + to.encode()
        + b">\nDATA\nsmuggled\r\n.\r\n"
    )
    session.send(smuggled)
    assert enhanced(session.read_reply()) == (550, b"5.5.2")
    assert session.command(b"NOOP")[0] == 250
    session.close()
    assert len(inbox(running, to)) == before
    still_serving(running)


def test_bare_cr_is_refused(running: RunningOperator) -> None:
    """MSS-MSG-5."""
    to = doctor(running)
    before = len(inbox(running, to))
    session = RawSession(running)
    session.start_data(to)
    session.send(b"Subject: a\r\n\r\nhello\rworld\r\n.\r\n")
    assert enhanced(session.read_reply()) == (550, b"5.5.2")
    session.close()
    assert len(inbox(running, to)) == before


def test_oversize_message_is_refused(running: RunningOperator) -> None:
    to = doctor(running)
    before = len(inbox(running, to))
    limit = running.settings.smtp.max_message_size
    session = RawSession(running)
    assert enhanced(session.command(f"MAIL FROM:<{PEER_SENDER}> SIZE={limit + 1}".encode())) == (
        552,
        b"5.3.4",
    )
    session.start_data(to)
    line = b"x" * 998 + b"\r\n"
    chunk = line * 1024
    sent = 0
    while sent <= limit:
        session.send(chunk)
        sent += len(chunk)
    session.send(b".\r\n")
    assert enhanced(session.read_reply()) == (552, b"5.3.4")
    session.close()
    assert len(inbox(running, to)) == before
    still_serving(running)


def test_ten_thousand_recipients(running: RunningOperator) -> None:
    """10,000 RCPT to unknown addresses, pipelined ten at a time: answered until the error
    limit, then 421 4.7.0 and a closed connection (no directory harvesting); the server keeps
    serving. (Batches keep the close free of unread input, which would turn it into a reset.)"""
    session = RawSession(running)
    session.command(f"MAIL FROM:<{PEER_SENDER}>".encode())
    replies: list[tuple[int, bytes]] = []
    try:
        for start in range(0, 10_000, 10):
            batch = b"".join(
                f"RCPT TO:<nobody{i}@hopital-demo.mssante.fr>\r\n".encode()
                for i in range(start, start + 10)
            )
            session.send(batch)
            for _ in range(10):
                replies.append(enhanced(session.read_reply()))
    except (ConnectionError, OSError):
        pass
    session.close()
    limit = running.settings.smtp.max_bad_commands
    assert replies[:limit] == [(550, b"5.1.1")] * limit
    assert replies[limit:] == [(421, b"4.7.0")]
    still_serving(running)


def test_recipient_limit_per_transaction(tmp_path: Path) -> None:
    """RFC 5321 §4.5.3.1.10: past max_recipients, 452 4.5.3."""
    limited = RunningOperator(tmp_path / "limited", max_recipients=2).start()
    try:
        accounts = [a["address"] for a in limited.manifest["accounts"] if a["kind"] == "PER"]
        accounts.append(limited.account("ORG", pharmacy=True)["address"])
        session = RawSession(limited)
        session.command(f"MAIL FROM:<{PEER_SENDER}>".encode())
        codes = [enhanced(session.command(f"RCPT TO:<{a}>".encode())) for a in accounts]
        session.close()
    finally:
        limited.stop()
    assert codes == [(250, b"2.1.5"), (250, b"2.1.5"), (452, b"4.5.3")]


def test_overlong_command_line(running: RunningOperator) -> None:
    session = RawSession(running)
    code, text = session.command(b"MAIL FROM:<" + b"a" * 5000 + b"@x.example>")
    assert code == 500
    assert text.split(b" ")[1].startswith(b"5.")
    assert session.command(b"NOOP")[0] == 250
    session.close()


def test_overlong_data_line_is_refused(running: RunningOperator) -> None:
    to = doctor(running)
    before = len(inbox(running, to))
    session = RawSession(running)
    session.start_data(to)
    session.send(b"Subject: long\r\n\r\n" + b"y" * 20_000 + b"\r\n.\r\n")
    code, _ = session.read_reply()
    assert code == 500
    session.close()
    assert len(inbox(running, to)) == before


def test_garbage_commands_end_the_session(running: RunningOperator) -> None:
    session = RawSession(running)
    replies = []
    try:
        for _ in range(100):
            replies.append(session.command(b"\x01\x02 GARBAGE \xff\xfe"))
    except ConnectionError:
        pass
    assert replies, "the first garbage command gets a reply"
    assert all(code >= 500 for code, _ in replies)
    assert len(replies) < 100, "the server closes after too many errors"
    session.close()
    still_serving(running)


def test_client_vanishing_mid_data_stores_nothing(running: RunningOperator) -> None:
    to = doctor(running)
    before = len(inbox(running, to))
    session = RawSession(running)
    session.start_data(to)
    session.send(b"Subject: partial\r\n\r\n" + b"half a message\r\n" * 1000)
    session.sock.shutdown(socket.SHUT_RDWR)
    session.close()
    time.sleep(0.3)
    assert len(inbox(running, to)) == before
    still_serving(running)


def test_tls_handshake_garbage_does_not_hurt(running: RunningOperator) -> None:
    raw = socket.create_connection(("127.0.0.1", running.port("mx")), timeout=10)
    raw.recv(1024)
    raw.sendall(b"EHLO x\r\n")
    raw.recv(4096)
    raw.sendall(b"STARTTLS\r\n")
    raw.recv(1024)
    raw.sendall(b"\x16\x03\x01\x00\x05garbage-not-tls" * 10)
    raw.close()
    still_serving(running)


def test_foreign_ca_certificate_fails_the_handshake(
    running: RunningOperator, tmp_path: Path
) -> None:
    """MSS-TRUST-3: a certificate not chaining to the trust anchors never gets a session."""
    from mss import pki

    folder = tmp_path
    ca = pki.create_ca(folder, common_name="Foreign CA")
    cert = pki.issue(
        ca,
        folder,
        "foreign",
        common_name="mx.operateur-pair.mssante.fr",
        organisation="Operateur Pair Demo",
        organisational_unit="888888888",
    )
    context = running.client_context()
    context.load_cert_chain(cert.cert_path, cert.key_path)
    raw = socket.create_connection(("127.0.0.1", running.port("mx")), timeout=10)
    file = raw.makefile("rb")
    file.readline()
    raw.sendall(b"EHLO x\r\nSTARTTLS\r\n")
    while not file.readline().startswith(b"220"):
        pass
    try:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"MAIL FROM:<a@operateur-pair.mssante.fr>\r\n")
            assert tls.recv(1024) == b""  # TLS 1.3: the refusal arrives after the handshake
    except (ssl.SSLError, ConnectionError):
        pass
    finally:
        raw.close()
    still_serving(running)


def test_every_reply_has_an_enhanced_code(running: RunningOperator) -> None:
    """RFC 2034: every 2xx/4xx/5xx reply but the greeting and EHLO carries an enhanced code."""
    session = RawSession(running)
    commands = [
        b"NOOP",
        b"HELP",
        b"VRFY postmaster",
        b"EXPN list",
        b"RSET",
        b"BOGUS",
        b"MAIL FROM:<broken",
        b"RCPT TO:<x@y.z>",
        b"DATA",
        b"HELO again",
        b"QUIT",
    ]
    for command in commands:
        _, text = session.command(command)
        status = text.split(b" ")[1]
        assert re.fullmatch(rb"[245]\.\d{1,3}\.\d{1,3}", status), (command, text)
    session.close()


def test_connections_beyond_the_limit_are_told_to_come_back(tmp_path: Path) -> None:
    limited = RunningOperator(tmp_path / "few", max_connections=2).start()
    try:
        first = RawSession(limited)
        second = RawSession(limited)
        with socket.create_connection(("127.0.0.1", limited.port("mx")), timeout=10) as third:
            greeting = third.makefile("rb").readline()
        assert greeting.startswith(b"421 4.7.0")
        assert first.command(b"NOOP")[0] == 250
        first.close()
        second.close()
    finally:
        limited.stop()
