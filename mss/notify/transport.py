"""The smarthost transport of notifications (MSS-PAT-7): outside the MSSanté space of trust.

A patient's personal address (gmail…) is not an MSSanté operator: notifications never go through
the outbound queue and relay (whitelist, mutual TLS); they go to one configured smarthost, with
STARTTLS required and its certificate verified by default (MSS-TLS-1: TLS ≥ 1.2), and SMTP AUTH
when a login is configured. We use aiosmtplib: one message per connection is plenty here.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

import aiosmtplib

from config.settings import NotifySettings


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    permanent: bool = False  # a 5xx refusal: trying again will not help
    error: str = ""  # reply code and class of error, for the log; never content


class Transport(Protocol):
    async def send(self, sender: str, recipient: str, message: bytes) -> SendResult: ...


class SmarthostError(ValueError):
    """The ``notify.smarthost`` setting is not ``host:port``."""


def parse_smarthost(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SmarthostError(f'notify.smarthost must be "host:port", got {value!r}')
    return host, int(port)


class SmarthostTransport:
    def __init__(self, settings: NotifySettings) -> None:
        self._host, self._port = parse_smarthost(settings.smarthost)
        self._settings = settings
        self._tls = _tls_context(settings)

    async def send(self, sender: str, recipient: str, message: bytes) -> SendResult:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            timeout=settings.timeout,
            start_tls=True if settings.require_starttls else None,
            tls_context=self._tls,
            username=settings.username or None,
            password=settings.password.get_secret_value() if settings.username else None,
        )
        try:
            async with client:
                await client.sendmail(sender, [recipient], message)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            return _refused(codes[0] if codes else 550, "recipient refused")
        except aiosmtplib.SMTPDataError as error:  # the message itself was refused
            return _refused(error.code, "message refused")
        except aiosmtplib.SMTPResponseException as error:  # greeting, AUTH, MAIL: our side
            return SendResult(ok=False, error=f"{error.code} {type(error).__name__}")
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as error:
            return SendResult(ok=False, error=type(error).__name__)
        return SendResult(ok=True)


def _refused(code: int, what: str) -> SendResult:
    return SendResult(ok=False, permanent=500 <= code < 600, error=f"{code} {what}")


def _tls_context(settings: NotifySettings) -> ssl.SSLContext:
    cafile = str(settings.ca_file) if settings.ca_file else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # MSS-TLS-1
    return context
