"""DKIM parts built from the settings: the inbound checker (``[dkim]``) and the outbound signer
(``outbound.dkim_selector``, ``outbound.dkim_keys``)."""

from __future__ import annotations

import ipaddress
from functools import partial

import dns.asyncresolver
import dns.nameserver

from config.settings import DkimSettings, OutboundSettings
from mss.dkim.inbound import InboundDkim
from mss.dkim.keys import DkimError
from mss.dkim.signer import DkimSigner
from mss.dkim.verify import TxtLookup, dns_lookup

DNS_PORT = 53


def inbound_dkim(
    settings: DkimSettings, hostname: str, *, lookup: TxtLookup | None = None
) -> InboundDkim:
    """The MX's checker; ``lookup`` replaces DNS (tests), else dnspython with our timeout."""
    lookup = lookup or partial(
        dns_lookup, lifetime=settings.dns_timeout, resolver=resolver(settings.nameservers)
    )
    return InboundDkim(
        settings.authserv_id or hostname, lookup=lookup, verify_inbound=settings.verify_inbound
    )


def outbound_signer(settings: OutboundSettings) -> DkimSigner:
    """The signer the outbound queue calls at enqueue time (a no-op without a selector)."""
    return DkimSigner.from_files(settings.dkim_selector, settings.dkim_keys)


def resolver(nameservers: list[str]) -> dns.asyncresolver.Resolver | None:
    """A resolver asking ``nameservers`` ("ip" or "ip:port"); None: the system's."""
    if not nameservers:
        return None
    configured = dns.asyncresolver.Resolver(configure=False)
    configured.nameservers = [_nameserver(text) for text in nameservers]
    return configured


def _nameserver(text: str) -> dns.nameserver.Nameserver:
    host, port = text.strip(), DNS_PORT
    if host.count(":") == 1 or host.startswith("["):  # "ip:port" or "[ipv6]:port"
        host, _colon, port_text = host.rpartition(":")
        host = host.strip("[]")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise DkimError(f"invalid DNS server {text!r}")
        port = int(port_text)
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise DkimError(f"invalid DNS server {text!r}: an IP address is needed") from None
    return dns.nameserver.Do53Nameserver(address, port)
