"""MSS-TRUST-5 over real HTTPS: the refresher downloads the list from a local HTTPS server and keeps
the last good copy when the server's certificate is not trusted (a CA outside the configured
bundle), when it answers 404, or when it is down."""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from config.settings import DirectorySettings
from directory.dn import normalise_dn
from directory.memory import MemoryDirectory
from directory.refresh import WhitelistRefresher
from mss.pki import Issued, create_ca, issue
from tests.unit.test_whitelist_refresh import NOW, PEER, THIRD, Clock, many, whitelist_xml

SETTINGS = DirectorySettings(argon2_time_cost=1, argon2_memory_kib=8)
PATH = "/listeblanchemssante.xml"


class _Handler(http.server.BaseHTTPRequestHandler):
    documents: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.documents.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def https_server(server_cert: Issued, documents: dict[str, bytes]) -> Iterator[str]:
    """A real HTTPS server on 127.0.0.1 serving ``documents``; yields its base URL."""
    handler = type("Handler", (_Handler,), {"documents": documents})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert.cert_path, server_cert.key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    folder = tmp_path_factory.mktemp("pki")
    trusted = create_ca(folder, "Whitelist CA", name="trusted")
    foreign = create_ca(folder, "Foreign CA", name="foreign")
    return {
        "trusted_ca": trusted,
        "good": _localhost(trusted, folder, "good"),
        "foreign": _localhost(foreign, folder, "foreign"),
    }


def _localhost(ca: Issued, folder: Path, name: str) -> Issued:
    return issue(
        ca,
        folder,
        name,
        common_name="localhost",
        organisation=name,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
    )


@pytest.fixture
async def loaded(tmp_path: Path) -> tuple[MemoryDirectory, Clock]:
    directory = MemoryDirectory(SETTINGS)
    clock = Clock()
    (tmp_path / "first.xml").write_text(whitelist_xml([*many(10), PEER]))
    assert (
        await WhitelistRefresher(directory, clock=clock).refresh(str(tmp_path / "first.xml"))
    ).ok
    clock.now += timedelta(hours=1)
    return directory, clock


def update() -> bytes:
    return whitelist_xml([*many(10), PEER, THIRD], NOW + timedelta(hours=1)).encode()


async def test_trust_5_https_download_with_the_configured_ca_is_loaded(
    pki: dict[str, Issued], loaded: tuple[MemoryDirectory, Clock]
) -> None:
    directory, clock = loaded
    refresher = WhitelistRefresher(directory, ca_file=pki["trusted_ca"].cert_path, clock=clock)
    with https_server(pki["good"], {PATH: update()}) as base:
        result = await refresher.refresh(base + PATH)
    assert result.ok
    assert result.entries == 12
    assert await directory.whitelisted_dns(THIRD[0]) == frozenset({normalise_dn(THIRD[1])})


async def test_trust_5_untrusted_server_certificate_keeps_the_last_good_copy(
    pki: dict[str, Issued], loaded: tuple[MemoryDirectory, Clock]
) -> None:
    """A server whose certificate chains to a CA outside the bundle: refused, copy kept."""
    directory, clock = loaded
    refresher = WhitelistRefresher(directory, ca_file=pki["trusted_ca"].cert_path, clock=clock)
    with https_server(pki["foreign"], {PATH: update()}) as base:
        result = await refresher.refresh(base + PATH)
    assert not result.ok
    assert "not trusted" in result.error
    await assert_kept(directory, "not trusted")


async def test_trust_5_system_cas_do_not_trust_a_test_ca(
    pki: dict[str, Issued], loaded: tuple[MemoryDirectory, Clock]
) -> None:
    directory, clock = loaded
    refresher = WhitelistRefresher(directory, clock=clock)  # no bundle: the system's CAs
    with https_server(pki["good"], {PATH: update()}) as base:
        assert not (await refresher.refresh(base + PATH)).ok
    await assert_kept(directory, "not trusted")


async def test_trust_5_http_404_keeps_the_last_good_copy(
    pki: dict[str, Issued], loaded: tuple[MemoryDirectory, Clock]
) -> None:
    directory, clock = loaded
    refresher = WhitelistRefresher(directory, ca_file=pki["trusted_ca"].cert_path, clock=clock)
    with https_server(pki["good"], {PATH: update()}) as base:
        result = await refresher.refresh(base + "/ailleurs.xml?token=secret")
    assert result.error.startswith("HTTP 404 from https://127.0.0.1:")
    assert "secret" not in result.error  # the URL's path and query are never echoed
    await assert_kept(directory, "HTTP 404")
    state = await directory.whitelist_refresh()
    assert state is not None
    assert state.source == base + "/ailleurs.xml"  # recorded without its query string


async def test_trust_5_server_down_keeps_the_last_good_copy(
    pki: dict[str, Issued], loaded: tuple[MemoryDirectory, Clock]
) -> None:
    directory, clock = loaded
    with https_server(pki["good"], {}) as base:
        pass  # the port is closed again
    refresher = WhitelistRefresher(directory, ca_file=pki["trusted_ca"].cert_path, clock=clock)
    assert not (await refresher.refresh(base + PATH)).ok
    await assert_kept(directory, "cannot download")


async def assert_kept(directory: MemoryDirectory, error_part: str) -> None:
    assert await directory.whitelisted_dns(THIRD[0]) == frozenset()
    assert await directory.whitelisted_dns(PEER[0]) == frozenset({normalise_dn(PEER[1])})
    state = await directory.whitelist_refresh()
    assert state is not None
    assert state.succeeded_at == NOW
    assert error_part in state.error
