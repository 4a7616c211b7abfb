"""DKIM parts built from the settings: the MX's checker and the outbound signer."""

from __future__ import annotations

from pathlib import Path

import dns.nameserver
import pytest

from config.settings import DkimSettings, OutboundSettings
from mss.dkim import DkimError, generate_key, save_key
from mss.dkim.config import inbound_dkim, outbound_signer, resolver


def test_authserv_id_defaults_to_the_smtp_hostname() -> None:
    assert inbound_dkim(DkimSettings(), "mx.operateur.test").authserv_id == "mx.operateur.test"
    named = inbound_dkim(DkimSettings(authserv_id="auth.operateur.test"), "mx.operateur.test")
    assert named.authserv_id == "auth.operateur.test"


def test_nameservers_with_and_without_port() -> None:
    configured = resolver(["127.0.0.1:5353", "::1", "[::1]:53"])
    assert configured is not None
    servers = configured.nameservers
    assert all(isinstance(s, dns.nameserver.Do53Nameserver) for s in servers)
    assert [(str(s.address), s.port) for s in servers] == [  # type: ignore[union-attr]
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("::1", 53),
    ]
    assert resolver([]) is None  # the system's


@pytest.mark.parametrize("bad", ["dns.example", "127.0.0.1:0", "127.0.0.1:x", "[::1]:99999"])
def test_bad_nameservers_are_refused(bad: str) -> None:
    with pytest.raises(DkimError, match="invalid DNS server"):
        resolver([bad])


def test_outbound_signer_from_settings(tmp_path: Path) -> None:
    save_key(generate_key(), tmp_path / "k.pem")
    settings = OutboundSettings(
        dkim_selector="mss1", dkim_keys={"Operateur.Test": tmp_path / "k.pem"}
    )
    assert outbound_signer(settings).domains == frozenset({"operateur.test"})
    assert outbound_signer(OutboundSettings()).domains == frozenset()
