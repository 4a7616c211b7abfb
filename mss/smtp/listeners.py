"""Start the SMTP listeners: MX (STARTTLS + client certificate), submission (STARTTLS + AUTH)
and submissions (implicit TLS + AUTH)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from dataclasses import dataclass

from config import SmtpSettings, TlsSettings
from mss.policy import Channel
from mss.smtp.server import MssSmtp, SmtpServices
from mss.tls import server_context

log = logging.getLogger(__name__)

# aiosmtpd logs command lines (AUTH data included) at INFO: never let that reach a log (SEC-IN-3).
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    server: asyncio.Server

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        return str(self.server.sockets[0].getsockname()[0])


async def start_smtp(
    smtp: SmtpSettings, tls: TlsSettings, services: SmtpServices
) -> list[Listener]:
    listeners = []
    mx_tls = server_context(tls, request_client_cert=True)
    plain_tls = server_context(tls, request_client_cert=False)
    if smtp.mx.enabled:
        listeners.append(await _serve("mx", smtp, services, Channel.MX, starttls=mx_tls))
    if smtp.submission.enabled:
        listeners.append(
            await _serve("submission", smtp, services, Channel.SUBMISSION, starttls=plain_tls)
        )
    if smtp.submissions.enabled:
        listeners.append(
            await _serve("submissions", smtp, services, Channel.SUBMISSION, implicit=plain_tls)
        )
    return listeners


async def _serve(
    name: str,
    smtp: SmtpSettings,
    services: SmtpServices,
    channel: Channel,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit: ssl.SSLContext | None = None,
) -> Listener:
    settings = getattr(smtp, name)
    submission = channel is Channel.SUBMISSION

    def factory() -> MssSmtp:
        with warnings.catch_warnings():
            # On the implicit-TLS port aiosmtpd cannot see the TLS and warns about AUTH over
            # plain text; the socket is TLS from the first byte (MSS-TLS-2 holds).
            warnings.simplefilter("ignore", UserWarning)
            return _session()

    def _session() -> MssSmtp:
        return MssSmtp(
            services,
            channel,
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

    server = await asyncio.get_running_loop().create_server(
        factory, settings.host, settings.port, ssl=implicit, reuse_address=True
    )
    listener = Listener(name, server)
    log.info("listening name=%s host=%s port=%d", name, listener.host, listener.port)
    return listener
