"""PROXY protocol (v1, v2) on every SMTP and IMAP listener of a demo operator, over real sockets:
the client address from the header replaces the load balancer's in the audit trail, the
Received: field and the IMAP login throttle; untrusted sources, garbage and silence are closed.
The header comes before TLS, on STARTTLS and implicit-TLS listeners alike."""

from __future__ import annotations

import imaplib
import logging
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from config.settings import ProxySettings
from mss.audit import AuditEvent, AuditRecord
from mss.wire.proxy import Endpoint, ProxyHeader, render_v1, render_v2
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message

HEADER_TIMEOUT = 0.5
LOGIN_DELAY = 0.2
PEER_SENDER = "dr.bernard@operateur-pair.mssante.fr"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOperator]:
    """Every listener behind a PROXY gate trusting 127.0.0.1 only (127.0.0.2 is "elsewhere")."""
    running = RunningOperator(tmp_path_factory.mktemp("proxied"))
    settings = running.settings

    def behind(listener: Any) -> Any:
        return listener.model_copy(update={"proxy_protocol": True})

    smtp = settings.smtp.model_copy(
        update={name: behind(getattr(settings.smtp, name)) for name in SMTP_LISTENERS}
    )
    imap = settings.imap.model_copy(
        update={
            "imap": behind(settings.imap.imap),
            "imaps": behind(settings.imap.imaps),
            "auth_failure_delay": LOGIN_DELAY,
        }
    )
    proxy = ProxySettings.model_validate(
        {"trusted_proxies": ["127.0.0.1/32", "::1"], "header_timeout": HEADER_TIMEOUT}
    )
    running.settings = settings.model_copy(update={"smtp": smtp, "imap": imap, "proxy": proxy})
    running.start()
    yield running
    running.stop()


SMTP_LISTENERS = ("mx", "submission", "submissions")


def v1(client: str, port: int = 40001) -> bytes:
    source = Endpoint(IPv4Address(client), port)
    return render_v1(ProxyHeader(1, source, Endpoint(IPv4Address("192.0.2.1"), 25)))


def v2(client: str, port: int = 40002) -> bytes:
    ip = IPv6Address(client) if ":" in client else IPv4Address(client)
    server = IPv6Address("2001:db8::1") if ":" in client else IPv4Address("192.0.2.1")
    tlvs = b"\x01\x00\x02h2" + b"\x04\x00\x03xyz"  # ALPN and NOOP: skipped
    return render_v2(ProxyHeader(2, Endpoint(ip, port), Endpoint(server, 25)), tlvs)


class ProxiedSMTP(smtplib.SMTP):
    def __init__(self, header: bytes, host: str, port: int, **kwargs: Any) -> None:
        self.proxy_header = header
        super().__init__(host, port, local_hostname="client.test", **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout)
        sock.sendall(self.proxy_header)
        return sock


class ProxiedSMTPS(smtplib.SMTP_SSL):
    def __init__(self, header: bytes, *args: Any, **kwargs: Any) -> None:
        self.proxy_header = header
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout)
        sock.sendall(self.proxy_header)  # in clear, then TLS
        return self.context.wrap_socket(sock, server_hostname=host)


class ProxiedIMAP(imaplib.IMAP4):
    def __init__(self, header: bytes, *args: Any, **kwargs: Any) -> None:
        self.proxy_header = header
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        sock.sendall(self.proxy_header)
        return sock


class ProxiedIMAPS(imaplib.IMAP4_SSL):
    def __init__(self, header: bytes, *args: Any, **kwargs: Any) -> None:
        self.proxy_header = header
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        sock.sendall(self.proxy_header)
        wrapped: socket.socket = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        return wrapped


def audit(running: RunningOperator, event: AuditEvent) -> list[AuditRecord]:
    return running.call(running.operator.audit.query(event=event, limit=500))


def doctor(running: RunningOperator) -> dict[str, Any]:
    return running.account("PER", rpps="10001234567")


# --- SMTP ------------------------------------------------------------------------------------


def test_submission_starttls_v1_names_the_client(proxied: RunningOperator) -> None:
    """Received: and the audit trail carry the address from the header (SEC-IN-4)."""
    user = doctor(proxied)
    nurse = proxied.account("PER", rpps="10007654321")["address"]
    before = len(inbox(proxied, nurse))
    with ProxiedSMTP(v1("198.51.100.23"), "127.0.0.1", proxied.port("submission"), timeout=30) as c:
        c.starttls(context=proxied.client_context())
        c.login(user["address"], user["password"])
        c.sendmail(user["address"], [nurse], message(user["address"], nurse))
    body = inbox(proxied, nurse)[before]
    received = body.split(b"\r\n\r\n", 1)[0]
    assert b"(198.51.100.23)" in received or b"[198.51.100.23]" in received
    assert b"127.0.0.1" not in received
    opened = audit(proxied, AuditEvent.CONNECTION_OPENED)
    assert any(r.peer == "198.51.100.23:40001" for r in opened)
    auths = audit(proxied, AuditEvent.AUTH_SUCCEEDED)
    assert any(r.peer == "198.51.100.23:40001" and r.actor == user["address"] for r in auths)


def test_submissions_implicit_tls_v2_ipv6(proxied: RunningOperator) -> None:
    user = doctor(proxied)
    header = v2("2001:db8:42::9", 40003)
    context = proxied.client_context()
    with ProxiedSMTPS(
        header, "127.0.0.1", proxied.port("submissions"), timeout=30, context=context
    ) as client:
        client.login(user["address"], user["password"])
        assert client.noop()[0] == 250
    tls = audit(proxied, AuditEvent.TLS_ESTABLISHED)
    assert any(r.peer == "2001:db8:42::9:40003" for r in tls)


def test_mx_starttls_client_certificate_v2(proxied: RunningOperator) -> None:
    """Inbound from a peer operator through the balancer: STARTTLS with its client certificate
    still ends on mss (MSS-TRUST-3, MSS-TLS-1)."""
    to = doctor(proxied)["address"]
    before = len(inbox(proxied, to))
    with ProxiedSMTP(v2("203.0.113.5"), "127.0.0.1", proxied.port("mx"), timeout=30) as client:
        client.ehlo("mx.operateur-pair.mssante.fr")
        client.starttls(context=proxied.client_context("peer_operator"))
        client.ehlo("mx.operateur-pair.mssante.fr")
        client.sendmail(PEER_SENDER, [to], message(PEER_SENDER, to))
    received = inbox(proxied, to)[before].split(b"\r\n\r\n", 1)[0]
    assert b"203.0.113.5" in received
    assert b"127.0.0.1" not in received


def test_local_v2_health_check_keeps_the_balancer_address(proxied: RunningOperator) -> None:
    local = render_v2(ProxyHeader(2))
    with ProxiedSMTP(local, "127.0.0.1", proxied.port("submission"), timeout=30) as client:
        assert client.noop()[0] == 250
    opened = audit(proxied, AuditEvent.CONNECTION_OPENED)
    assert opened[-1].peer is not None
    assert opened[-1].peer.startswith("127.0.0.1:")


# --- IMAP ------------------------------------------------------------------------------------


def test_imap_starttls_v1_login_is_audited_with_the_client(proxied: RunningOperator) -> None:
    user = doctor(proxied)
    client = ProxiedIMAP(v1("198.51.100.77", 50077), "127.0.0.1", proxied.port("imap"), timeout=30)
    try:
        client.starttls(ssl_context=proxied.client_context())
        client.login(user["address"], user["password"])
        assert client.select("INBOX")[0] == "OK"
    finally:
        client.logout()
    auths = audit(proxied, AuditEvent.AUTH_SUCCEEDED)
    assert any(r.peer == "198.51.100.77:50077" for r in auths)


def test_imaps_v2_header_and_client_hello_in_one_segment(proxied: RunningOperator) -> None:
    """The gate consumes the header and not one byte more: a ClientHello sent in the same
    write (as HAProxy may forward it) still reaches the TLS layer."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = proxied.client_context().wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", proxied.port("imaps")), timeout=30) as sock:
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        sock.sendall(v2("198.51.100.88") + outgoing.read())
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "closed during the TLS handshake"
                incoming.write(data)
        sock.sendall(outgoing.read())
        greeting = b""
        while b"\r\n" not in greeting:
            try:
                greeting += tls.read(4096)
            except ssl.SSLWantReadError:
                incoming.write(sock.recv(65536))
    assert greeting.startswith(b"* OK")


def test_imap_login_throttle_counts_per_real_client(proxied: RunningOperator) -> None:
    """IMAP issue 3: failures from one client behind the balancer slow that client down, not
    every client of the balancer (the throttle keys on the header's address)."""
    user = doctor(proxied)
    port = proxied.port("imaps")
    context = proxied.client_context()
    guesser = v2("198.51.100.66")
    for attempt in range(3):
        with (
            ProxiedIMAPS(guesser, "127.0.0.1", port, ssl_context=context, timeout=30) as c,
            pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
        ):
            c.login(f"guess{attempt}@hopital-demo.mssante.fr", "wrong")
    innocent = ProxiedIMAPS(v2("198.51.100.67"), "127.0.0.1", port, ssl_context=context)
    started = time.monotonic()
    innocent.login(user["address"], user["password"])
    innocent_wait = time.monotonic() - started
    innocent.logout()
    guessing = ProxiedIMAPS(guesser, "127.0.0.1", port, ssl_context=context)
    started = time.monotonic()
    guessing.login(user["address"], user["password"])
    guesser_wait = time.monotonic() - started
    guessing.logout()
    assert guesser_wait >= 4 * LOGIN_DELAY * 0.9  # three failures: 0.2 x 2^2
    assert innocent_wait < 4 * LOGIN_DELAY * 0.9


# --- refusals --------------------------------------------------------------------------------


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def refusals(running: RunningOperator, reason: str) -> list[AuditRecord]:
    closed = audit(running, AuditEvent.CONNECTION_CLOSED)
    return [r for r in closed if str(r.details.get("reason", "")).startswith(reason)]


@pytest.mark.parametrize("listener", ["mx", "submissions", "imap", "imaps"])
def test_untrusted_source_is_closed_at_once(proxied: RunningOperator, listener: str) -> None:
    before = len(refusals(proxied, "untrusted proxy"))
    sock = socket.create_connection(
        ("127.0.0.1", proxied.port(listener)), timeout=5, source_address=("127.0.0.2", 0)
    )
    with sock:
        source = f"127.0.0.2:{sock.getsockname()[1]}"
        sock.sendall(v1("198.51.100.99"))  # a valid header does not help
        assert closed_within(sock, 5)
    found = refusals(proxied, "untrusted proxy")
    assert len(found) == before + 1
    assert found[-1].peer == source
    assert found[-1].details.get("listener") == listener


@pytest.mark.parametrize(
    ("listener", "garbage"),
    [
        ("submission", b"EHLO client.test\r\n"),  # a client speaking directly
        ("imap", b"a1 CAPABILITY\r\n"),
        ("imaps", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),  # TLS without header
        ("mx", b"PROXY TCP4 999.1.1.1 192.0.2.1 1 25\r\n"),
        ("submissions", b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + bytes(12)),  # v2 UDP
    ],
)
def test_garbage_header_is_closed(proxied: RunningOperator, listener: str, garbage: bytes) -> None:
    before = len(refusals(proxied, "bad proxy header"))
    with socket.create_connection(("127.0.0.1", proxied.port(listener)), timeout=5) as sock:
        sock.sendall(garbage)
        assert closed_within(sock, 5)
    assert len(refusals(proxied, "bad proxy header")) == before + 1


@pytest.mark.parametrize("listener", ["submission", "imaps"])
def test_silence_is_closed_after_the_header_timeout(
    proxied: RunningOperator, listener: str
) -> None:
    before = len(refusals(proxied, "proxy header timeout"))
    with socket.create_connection(("127.0.0.1", proxied.port(listener)), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 ")  # half a header, then nothing
        started = time.monotonic()
        assert closed_within(sock, 5)
        assert time.monotonic() - started >= HEADER_TIMEOUT * 0.8
    assert len(refusals(proxied, "proxy header timeout")) == before + 1


@pytest.mark.parametrize("listener", ["mx", "submission", "submissions", "imap", "imaps"])
def test_health_check_that_leaves_at_once_leaves_nothing_open(
    proxied: RunningOperator, listener: str
) -> None:
    """A balancer's check sends its header and leaves before the greeting; the session must
    still close its transport (else the module's teardown reports an unclosed transport)."""
    for header in (render_v2(ProxyHeader(2)), v1("198.51.100.50")):
        with socket.create_connection(("127.0.0.1", proxied.port(listener)), timeout=5) as sock:
            sock.sendall(header)
    time.sleep(0.2)


def test_server_keeps_serving_after_refusals(proxied: RunningOperator) -> None:
    user = doctor(proxied)
    with ProxiedSMTP(v1("198.51.100.24"), "127.0.0.1", proxied.port("submission"), timeout=30) as c:
        c.starttls(context=proxied.client_context())
        c.login(user["address"], user["password"])
        assert c.noop()[0] == 250


# --- a real HAProxy in front ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def haproxy(
    proxied: RunningOperator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """HAProxy in TCP mode on loopback high ports: submission with send-proxy-v2 (with TLVs),
    imaps with send-proxy (v1); its health checks (connect, close) run all along."""
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if binary is None:
        pytest.skip("haproxy is not installed")
    ports = {"submission": free_port(), "imaps": free_port()}
    sections = [  # unique-id and crc32c: TLVs the gate skips
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
        '  unique-id-format "%{+X}o%ci:%cp"\n'
    ]
    for name, send in (
        ("submission", "send-proxy-v2 proxy-v2-options crc32c,unique-id"),
        ("imaps", "send-proxy"),
    ):
        sections.append(
            f"frontend fe_{name}\n  bind 127.0.0.1:{ports[name]}\n  default_backend be_{name}\n"
            f"backend be_{name}\n  server mss 127.0.0.1:{proxied.port(name)} {send}"
            " check inter 100ms\n"
        )
    config = tmp_path_factory.mktemp("haproxy") / "haproxy.cfg"
    config.write_text("\n".join(sections))
    process = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_listening(ports.values(), process)
        yield ports
    finally:
        process.terminate()
        process.communicate(timeout=10)


def wait_listening(ports: Iterable[int], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"haproxy exited: {process.communicate()[1]!r}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


class SourcedIMAPS(imaplib.IMAP4_SSL):
    """imaplib has no source_address: this one connects from 127.0.0.3."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection(
            (self.host, self.port), timeout, source_address=("127.0.0.3", 0)
        )
        self.source_port = sock.getsockname()[1]
        wrapped: socket.socket = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        return wrapped


@pytest.mark.external
def test_behind_real_haproxy_v2_submission(
    proxied: RunningOperator, haproxy: dict[str, int]
) -> None:
    user = doctor(proxied)
    client = smtplib.SMTP(
        "127.0.0.1", haproxy["submission"], timeout=30, source_address=("127.0.0.3", 0)
    )
    with client:
        assert client.sock is not None
        source_port = client.sock.getsockname()[1]
        client.starttls(context=proxied.client_context())
        client.login(user["address"], user["password"])
    auths = audit(proxied, AuditEvent.AUTH_SUCCEEDED)
    assert any(r.peer == f"127.0.0.3:{source_port}" for r in auths)


@pytest.mark.external
def test_behind_real_haproxy_v1_imaps(proxied: RunningOperator, haproxy: dict[str, int]) -> None:
    user = doctor(proxied)
    client = SourcedIMAPS("127.0.0.1", haproxy["imaps"], ssl_context=proxied.client_context())
    try:
        client.login(user["address"], user["password"])
    finally:
        client.logout()
    auths = audit(proxied, AuditEvent.AUTH_SUCCEEDED)
    assert any(r.peer == f"127.0.0.3:{client.source_port}" for r in auths)


@pytest.mark.external
def test_haproxy_health_checks_leave_the_listeners_serving(
    proxied: RunningOperator, haproxy: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    """HAProxy's checks (a LOCAL header, then a reset) every 100 ms: none is refused, nothing
    is left open (the module teardown fails on an unclosed transport), and the listeners keep
    serving through the balancer."""
    caplog.set_level(logging.DEBUG, logger="mss.proxy_gate")
    time.sleep(1.0)
    # each check is dropped before or after its LOCAL header, as the race goes: one record
    checks = [r for r in caplog.records if r.name == "mss.proxy_gate"]
    assert len(checks) >= 5
    assert not any("refused" in r.getMessage() for r in checks)
    test_behind_real_haproxy_v2_submission(proxied, haproxy)
