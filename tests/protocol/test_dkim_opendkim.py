"""OpenDKIM, an independent implementation, checks our DKIM signatures (and we check its).

``opendkim-testmsg`` (Debian ``opendkim-tools``) verifies against the key in DNS and has no
option to read a key file. So, with no network beyond loopback: the check runs in a private
network and mount namespace (``unshare``, no privilege needed) where ``/etc/resolv.conf`` is
bind-mounted to point at a tiny DNS server on that namespace's own 127.0.0.1:53, serving the
TXT record that :func:`mss.dkim.dns_record` gives. This module is also that namespace's
driver (``python -m tests.protocol.test_dkim_opendkim NAME RECORD_FILE MESSAGE_FILE``).

The same DNS server, on the host's loopback, checks :func:`mss.dkim.dns_lookup`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import dkim
import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from mss.dkim import (
    DkimKey,
    DkimSigner,
    DkimStatus,
    dns_lookup,
    dns_record,
    generate_key,
    save_key,
)
from mss.dkim import sign as dkim_sign
from mss.dkim import verify as dkim_verify

pytestmark = pytest.mark.external

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "operateur.test"
SELECTOR = "mss2026"
SERVFAIL = "servfail"  # a zone value asking the fake server to answer SERVFAIL
MESSAGE = (
    b"From: Dr Alice Martin <alice.martin@operateur.test>\r\n"
    b"To: bob.durand@autre.test\r\n"
    b"Subject: Compte rendu\r\n"
    b"Date: Sun, 22 Nov 2026 04:40:00 +0000\r\n"
    b"Message-ID: <cr-2@operateur.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-MSS-INS: O\r\n"
    b"\r\n"
    b"Bonjour,\r\nvoici le compte rendu.\r\n"
)


# --- a DNS server answering TXT queries from a table -----------------------------------------


def _answer(data: bytes, records: Mapping[str, str]) -> bytes:
    query = dns.message.from_wire(data)
    response = dns.message.make_response(query)
    question = query.question[0]
    value = records.get(question.name.to_text().rstrip(".").lower())
    if value is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif value == SERVFAIL:
        response.set_rcode(dns.rcode.SERVFAIL)
    elif question.rdtype == dns.rdatatype.TXT:
        rrset = dns.rrset.from_text(question.name, 60, "IN", "TXT", value)
        response.answer.append(rrset)
    return response.to_wire()


def _serve(sock: socket.socket, records: Mapping[str, str], stop: threading.Event) -> None:
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(4096)
        except TimeoutError:
            continue
        sock.sendto(_answer(data, records), peer)


@contextlib.contextmanager
def txt_server(records: Mapping[str, str], host: str, port: int) -> Iterator[int]:
    """Serve ``records`` (name -> zone-file TXT value) over UDP; yields the bound port."""
    stop = threading.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        thread = threading.Thread(target=_serve, args=(sock, records, stop), daemon=True)
        thread.start()
        try:
            yield sock.getsockname()[1]
        finally:
            stop.set()
            thread.join()


# --- the driver that runs inside the namespace ------------------------------------------------


def _loopback_up() -> None:
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def namespace_main(name: str, record_file: Path, message_file: Path) -> int:
    """Inside ``unshare --net --mount``: DNS on 127.0.0.1:53, then opendkim-testmsg."""
    _loopback_up()
    with tempfile.TemporaryDirectory() as folder:
        resolv = Path(folder) / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\noptions edns0\n")
        subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
        with txt_server({name: record_file.read_text()}, "127.0.0.1", 53):
            done = subprocess.run(
                ["opendkim-testmsg"], stdin=message_file.open("rb"), capture_output=True
            )
    sys.stderr.buffer.write(done.stderr)
    return done.returncode


# --- the tests ----------------------------------------------------------------------------


def _opendkim_testmsg() -> str:
    binary = shutil.which("opendkim-testmsg")
    if binary is None:
        pytest.skip("opendkim-testmsg is not installed (scripts/test.sh installs opendkim-tools)")
    return binary


def _unshare() -> str:
    binary = shutil.which("unshare")
    if binary is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run([binary, "-rnm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unprivileged user/network namespaces are not available here")
    return binary


def record_of(zone_value: str) -> bytes:
    """The TXT record as a resolver returns it: the quoted strings concatenated."""
    return "".join(zone_value.split('"')[1::2]).encode("ascii")


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return generate_key()


def opendkim_verifies(
    key: DkimKey, message: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    _opendkim_testmsg()
    unshare = _unshare()
    name, value = dns_record(SELECTOR, DOMAIN, key)
    (tmp_path / "record.txt").write_text(value)
    (tmp_path / "message.eml").write_bytes(message)
    command = [unshare, "-rnm", sys.executable, "-m", "tests.protocol.test_dkim_opendkim"]
    return subprocess.run(
        [*command, name, str(tmp_path / "record.txt"), str(tmp_path / "message.eml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_opendkim_verifies_a_message_we_signed(key: DkimKey, tmp_path: Path) -> None:
    signed = dkim_sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=key) + MESSAGE
    done = opendkim_verifies(key, signed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"le compte rendu.", b"le compte rendu modifie."),
        (b"X-MSS-INS: O", b"X-MSS-INS: N"),  # MSS-MSG-1: a signed MSSante header
    ],
)
def test_opendkim_rejects_a_tampered_message(
    key: DkimKey, tmp_path: Path, old: bytes, new: bytes
) -> None:
    signed = dkim_sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=key) + MESSAGE
    done = opendkim_verifies(key, signed.replace(old, new), tmp_path)
    assert done.returncode != 0
    assert "dkim_eom(): Bad signature" in done.stderr  # the key was found: not a DNS failure


def test_opendkim_verifies_the_outbound_signer(key: DkimKey, tmp_path: Path) -> None:
    """The signer H4's queue calls at enqueue time (mss.dkim.DkimSigner, OpenSSL for RSA)."""
    signed = DkimSigner(SELECTOR, {DOMAIN: key}).sign(MESSAGE, DOMAIN)
    done = opendkim_verifies(key, signed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    tampered = opendkim_verifies(key, signed.replace(b"X-MSS-INS: O", b"X-MSS-INS: N"), tmp_path)
    assert tampered.returncode != 0
    assert "dkim_eom(): Bad signature" in tampered.stderr


def test_opendkim_verifies_the_signer_on_awkward_whitespace(key: DkimKey, tmp_path: Path) -> None:
    """Our own relaxed canonicalisation (tabs, runs of spaces, trailing spaces and empty lines,
    folded fields) agrees with OpenDKIM's."""
    awkward = (
        b"From:  Dr Alice Martin\t<alice.martin@operateur.test> \r\n"
        b"To: bob.durand@autre.test\r\n"
        b"Date: Sun, 22 Nov 2026 04:40:00 +0000\r\n"  # opendkim-testmsg requires one
        b"Subject: Compte rendu\r\n\t  du 22 novembre \r\n"
        b"X-MSS-INS:O\r\n"
        b"\r\n"
        b"Bonjour,  \r\n\tvoici\t\tle  compte rendu. \t\r\n \r\n\r\n\r\n"
    )
    signed = DkimSigner(SELECTOR, {DOMAIN: key}).sign(awkward, DOMAIN)
    done = opendkim_verifies(key, signed, tmp_path)
    assert done.returncode == 0, done.stderr


def test_opendkim_rejects_a_signature_with_another_key(key: DkimKey, tmp_path: Path) -> None:
    other = generate_key()
    signed = dkim_sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=other) + MESSAGE
    done = opendkim_verifies(key, signed, tmp_path)
    assert done.returncode != 0
    assert "dkim_eom(): Bad signature" in done.stderr  # the key was found: not a DNS failure


def opendkim_signs(key: DkimKey, tmp_path: Path) -> bytes:
    binary = _opendkim_testmsg()
    save_key(key, tmp_path / "key.pem")
    done = subprocess.run(
        [binary, "-C", "-d", DOMAIN, "-s", SELECTOR, "-k", str(tmp_path / "key.pem")],
        input=MESSAGE,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"DKIM-Signature:")
    return done.stdout


def test_opendkim_signs_with_our_key_file(key: DkimKey, tmp_path: Path) -> None:
    """Our key file (PKCS#1 PEM, 0600) is usable by OpenDKIM: dkimpy checks its signature
    against our DNS record. (opendkim-testmsg signs rsa-sha1, which :func:`verify` refuses.)"""
    signed = opendkim_signs(key, tmp_path)
    name, value = dns_record(SELECTOR, DOMAIN, key)

    def dnsfunc(qname: bytes, timeout: int = 5) -> bytes | None:
        return record_of(value) if qname.decode().rstrip(".") == name else None

    assert dkim.verify(signed, dnsfunc=dnsfunc) is True
    assert dkim.verify(signed.replace(b"Bonjour", b"Bonsoir"), dnsfunc=dnsfunc) is False


async def test_rsa_sha1_signature_is_refused_rfc_8301(key: DkimKey, tmp_path: Path) -> None:
    signed = await asyncio.to_thread(opendkim_signs, key, tmp_path)
    assert b"a=rsa-sha1" in signed
    name, value = dns_record(SELECTOR, DOMAIN, key)

    async def lookup(qname: str) -> list[bytes] | None:
        return [record_of(value)] if qname == name else []

    results = await dkim_verify(signed, lookup=lookup)
    assert [(r.status, r.reason) for r in results] == [(DkimStatus.PERMERROR, "algorithm refused")]


async def test_dns_lookup_over_loopback_dns(key: DkimKey) -> None:
    """The production lookup: records, NXDOMAIN -> [], SERVFAIL -> None (no network used)."""
    name, value = dns_record(SELECTOR, DOMAIN, key)
    records = {name: value, "broken._domainkey.operateur.test": SERVFAIL}
    with txt_server(records, "127.0.0.1", 0) as port:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = port
        found = await dns_lookup(name, resolver=resolver)
        missing = await dns_lookup("nope._domainkey.operateur.test", resolver=resolver)
        failing = await dns_lookup(
            "broken._domainkey.operateur.test", lifetime=1, resolver=resolver
        )
    assert found == [record_of(value)]
    assert found[0].startswith(b"v=DKIM1; k=rsa; p=")
    assert missing == []
    assert failing is None


if __name__ == "__main__":
    sys.exit(namespace_main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
