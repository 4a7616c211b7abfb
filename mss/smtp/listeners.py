"""Start the SMTP listeners: MX (STARTTLS + client certificate), submission (STARTTLS + AUTH)
and submissions (implicit TLS + AUTH), each behind a PROXY protocol gate when its
``proxy_protocol`` is set (:mod:`mss.proxy_gate`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import warnings
from collections.abc import Callable

from config import ListenerSettings, SmtpSettings, TlsSettings
from config.settings import ProxySettings
from mss.audit import AuditEvent
from mss.listening import Listener
from mss.policy import Channel
from mss.proxy_gate import ProxyGate
from mss.smtp.server import MssSmtp, SmtpServices
from mss.tls import server_context

log = logging.getLogger(__name__)

# aiosmtpd logs command lines (AUTH data included) at INFO: never let that reach a log (SEC-IN-3).
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


async def start_smtp(
    smtp: SmtpSettings,
    tls: TlsSettings,
    services: SmtpServices,
    proxy: ProxySettings | None = None,
) -> list[Listener]:
    listeners = []
    mx_tls = server_context(tls, request_client_cert=True)
    plain_tls = server_context(tls, request_client_cert=False)
    proxy = proxy or ProxySettings()
    if smtp.mx.enabled:
        listeners.append(await _serve("mx", smtp, services, Channel.MX, proxy, starttls=mx_tls))
    if smtp.submission.enabled:
        listeners.append(
            await _serve(
                "submission", smtp, services, Channel.SUBMISSION, proxy, starttls=plain_tls
            )
        )
    if smtp.submissions.enabled:
        listeners.append(
            await _serve(
                "submissions", smtp, services, Channel.SUBMISSION, proxy, implicit=plain_tls
            )
        )
    return listeners


async def _serve(
    name: str,
    smtp: SmtpSettings,
    services: SmtpServices,
    channel: Channel,
    proxy: ProxySettings,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit: ssl.SSLContext | None = None,
) -> Listener:
    settings = getattr(smtp, name)
    submission = channel is Channel.SUBMISSION

    def factory(client: str | None = None) -> MssSmtp:
        with warnings.catch_warnings():
            # On the implicit-TLS port aiosmtpd cannot see the TLS and warns about AUTH over
            # plain text; the socket is TLS from the first byte (MSS-TLS-2 holds).
            warnings.simplefilter("ignore", UserWarning)
            return _session(client)

    def _session(client: str | None) -> MssSmtp:
        return MssSmtp(
            services,
            channel,
            proxied_peer=client,
            max_line_length=smtp.max_line_length,
            hostname=smtp.hostname,
            ident="ESMTP mss",
            data_size_limit=smtp.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=starttls,
            require_starttls=starttls is not None,
            timeout=smtp.command_timeout,
            auth_required=submission,
            auth_require_tls=implicit is None,  # MSS-TLS-2
            auth_exclude_mechanism=[] if submission else ["PLAIN", "LOGIN"],
        )

    if settings.proxy_protocol:
        return await _serve_proxied(name, settings, services, proxy, factory, implicit)
    server = await asyncio.get_running_loop().create_server(
        factory, settings.host, settings.port, ssl=implicit, reuse_address=True
    )
    return _started(Listener(name, server))


async def _serve_proxied(
    name: str,
    listen: ListenerSettings,
    services: SmtpServices,
    proxy: ProxySettings,
    factory: Callable[[str | None], MssSmtp],
    implicit: ssl.SSLContext | None,
) -> Listener:
    """Behind a load balancer: the PROXY header first (mss.proxy_gate), then the session."""
    loop = asyncio.get_running_loop()

    async def handover(sock: socket.socket, client: str | None) -> None:
        # Implicit TLS starts here, after the PROXY header (which is never inside TLS).
        await loop.connect_accepted_socket(lambda: factory(client), sock, ssl=implicit)

    def refused(peer: str, reason: str) -> None:
        services.audit.record(AuditEvent.CONNECTION_CLOSED, peer=peer, listener=name, reason=reason)

    gate = ProxyGate(name, proxy, handover, refused)
    server = await loop.create_server(gate.protocol, listen.host, listen.port, reuse_address=True)
    return _started(Listener(name, server, gate))


def _started(listener: Listener) -> Listener:
    log.info(
        "listening name=%s host=%s port=%d proxy_protocol=%s",
        listener.name,
        listener.host,
        listener.port,
        listener.gate is not None,
    )
    return listener
