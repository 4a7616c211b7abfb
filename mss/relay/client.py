"""``SmtpRelay``: the ``Relay`` that delivers to other operators over verified mutual TLS.

MSS-TRUST-4, fail-closed at every step: the recipient domain must be on the whitelist; the peer
must offer STARTTLS (TLS ≥ 1.2, MSS-TLS-1), its certificate must chain to our trust anchors (and
not be revoked when a CRL is configured) and its subject DN must be listed for the recipient
domain (compared as ``directory.dn.normalise_dn`` does for the MX side, MSS-TRUST-2); we present
our own certificate. Nothing is sent otherwise, and each recipient gets a result with a clear
text: the queue retries temporary ones and bounces permanent ones.

We use our own small client over asyncio streams (``mss.relay.session``) rather than aiosmtplib:
we need the peer certificate between STARTTLS and MAIL, per-recipient replies with pipelining,
the DSN parameters as we encode them, and the connection handed to a pool.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Protocol

from config.settings import OutboundSettings, TlsSettings
from mss.outbound.relay import OutboundMessage, RecipientResult, RelayResult
from mss.relay.pool import ConnectionPool
from mss.relay.routes import MxResolver, RouteError, Routes
from mss.relay.session import Endpoint, Envelope, SessionError, SmtpSession, Timeouts
from mss.relay.wire import Reply, mail_params, needs_smtputf8, rcpt_params
from mss.tls import client_context

log = logging.getLogger(__name__)


class TrustList(Protocol):
    """What the relay needs of the directory (``directory.interfaces.Directory`` is one)."""

    async def whitelisted_dns(self, domain: str) -> frozenset[str]:
        """Normalised certificate DNs listed for ``domain`` (empty when not whitelisted)."""
        ...


@dataclass(frozen=True, slots=True)
class _Failure:
    code: int
    enhanced: str
    text: str
    remote_host: str = ""


class SmtpRelay:
    """Delivers one message to the recipients of one domain; never raises for a delivery error."""

    def __init__(
        self,
        *,
        outbound: OutboundSettings,
        tls: TlsSettings,
        hostname: str,
        trust: TrustList,
        resolver: MxResolver | None = None,
    ) -> None:
        self._hostname = hostname
        self._trust = trust
        self._routes = Routes(outbound.routes, port=outbound.port, resolver=resolver)
        self._timeouts = Timeouts(outbound.connect_timeout, outbound.command_timeout)
        self._context = relay_context(tls)
        self.pool: ConnectionPool[SmtpSession] = ConnectionPool(
            per_key=outbound.connections_per_domain,
            total=outbound.max_connections,
            idle_timeout=outbound.idle_timeout,
        )

    async def send(self, domain: str, message: OutboundMessage) -> RelayResult:
        domain = domain.lower()
        try:
            return await self._send(domain, message)
        except Exception:
            log.exception(
                "relay failed unexpectedly queue_id=%s domain=%s", message.queue_id, domain
            )
            return _all(message, _Failure(451, "4.3.0", "local error while relaying"), False)

    async def close(self) -> None:
        await self.pool.close()

    async def _send(self, domain: str, message: OutboundMessage) -> RelayResult:
        if not message.recipients:
            return RelayResult((), False)
        listed = await self._trust.whitelisted_dns(domain)
        if not listed:
            # MSS-TRUST-4: relay only to whitelisted domains (temporary: the list may come back).
            failure = _Failure(
                450, "4.7.1", f"{domain} is not on the whitelist of the space of trust"
            )
            return _all(message, failure, False)
        try:
            session = await self.pool.acquire(domain, lambda: self._open(domain, listed))
        except (RouteError, SessionError) as error:
            return _all(message, _Failure(error.code, error.enhanced, error.text), False)
        reusable = False
        try:
            result = await self._deliver(session, domain, listed, message)
            reusable = not session.broken
            return result
        except SessionError as error:
            failure = _Failure(error.code, error.enhanced, error.text, session.endpoint.host)
            return _all(message, failure, session.has("DSN"))
        finally:
            await self.pool.release(domain, session, reusable=reusable)

    async def _open(self, domain: str, listed: frozenset[str]) -> SmtpSession:
        """A trusted session with one of the domain's hosts, in order; the last error if none."""
        last: SessionError | None = None
        for endpoint in await self._routes.resolve(domain):
            try:
                session = await SmtpSession.open(
                    endpoint,
                    hostname=self._hostname,
                    context=self._context,
                    timeouts=self._timeouts,
                )
            except SessionError as error:
                log.info(
                    "relay host failed domain=%s host=%s error=%s", domain, endpoint.label, error
                )
                last = error
                continue
            if session.peer_dn in listed:  # MSS-TRUST-4, MSS-TRUST-2
                log.info(
                    "relay connected domain=%s host=%s tls=%s",
                    domain,
                    endpoint.label,
                    session.tls_version,
                )
                return session
            await session.quit()
            last = _not_listed(domain, endpoint, session.peer_dn)
            log.warning(
                "relay peer not listed domain=%s host=%s dn=%s",
                domain,
                endpoint.label,
                session.peer_dn,
            )
        raise last or SessionError(451, "4.4.4", f"no host to deliver to for {domain}")

    async def _deliver(
        self, session: SmtpSession, domain: str, listed: frozenset[str], message: OutboundMessage
    ) -> RelayResult:
        peer_dsn = session.has("DSN")
        if session.peer_dn not in listed:  # the list changed since the connection was opened
            session.broken = True
            return _all(message, _not_listed_failure(domain, session), peer_dsn)
        refusal = _unsupported(session, message)
        if refusal is not None:
            return _all(message, refusal, peer_dsn)
        envelope = Envelope(
            sender=message.sender,
            mail_params=mail_params(message, session.extensions),
            recipients=tuple(
                (r.address, rcpt_params(r, session.extensions)) for r in message.recipients
            ),
            body=message.body,
        )
        replies = await session.transaction(envelope)
        host = session.endpoint.host
        results = tuple(
            _result(r.address, reply, host)
            for r, reply in zip(message.recipients, replies, strict=True)
        )
        return RelayResult(results, peer_dsn)


def relay_context(tls: TlsSettings) -> ssl.SSLContext:
    """Our client context: the peer verified against the anchors (+ CRL), our certificate."""
    context = client_context(
        trust_anchors=tls.trust_anchors,
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        min_version=tls.min_version,  # MSS-TLS-1
        crl_file=tls.crl_file,
    )
    # The peer's identity is its certificate DN listed for the domain (MSS-TRUST-4), checked
    # after the handshake; host names are not part of the space of trust's model.
    context.check_hostname = False
    return context


def _unsupported(session: SmtpSession, message: OutboundMessage) -> _Failure | None:
    host = session.endpoint.host
    if needs_smtputf8(message) and not session.has("SMTPUTF8"):
        # RFC 6531 §3.2: an internationalised message cannot go to a peer without SMTPUTF8.
        return _Failure(553, "5.6.7", f"{host} does not support SMTPUTF8", host)
    if message.eight_bit and not session.has("8BITMIME"):
        return _Failure(554, "5.6.3", f"{host} does not accept 8-bit data (no 8BITMIME)", host)
    limit = session.size_limit()
    if limit and len(message.body) > limit:
        return _Failure(552, "5.3.4", f"message larger than {host} accepts ({limit} bytes)", host)
    return None


def _not_listed(domain: str, endpoint: Endpoint, dn: str) -> SessionError:
    # Temporary: the whitelist may be refreshed; the queue bounces at expiry (MSS-TRUST-4).
    return SessionError(
        450, "4.7.1", f"certificate of {endpoint.label} ({dn}) is not listed for {domain}"
    )


def _not_listed_failure(domain: str, session: SmtpSession) -> _Failure:
    error = _not_listed(domain, session.endpoint, session.peer_dn)
    return _Failure(error.code, error.enhanced, error.text, session.endpoint.host)


def _result(address: str, reply: Reply, host: str) -> RecipientResult:
    return RecipientResult(address, reply.code, reply.enhanced, reply.text, host)


def _all(message: OutboundMessage, failure: _Failure, peer_dsn: bool) -> RelayResult:
    return RelayResult(
        tuple(
            RecipientResult(
                r.address, failure.code, failure.enhanced, failure.text, failure.remote_host
            )
            for r in message.recipients
        ),
        peer_dsn,
    )
