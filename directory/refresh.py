"""Refreshing the ANS whitelist from its source (MSS-TRUST-5).

The source is an HTTPS URL, verified with a configured CA bundle (or the system's CAs), or a
local file. A refresh replaces the stored list only when the download and the parse succeed and
the new list passes two sanity rules; otherwise the last good copy stays and the error is
recorded. Every attempt is recorded (time, outcome, count, source, SHA-256 of the good copy).

*(chosen)* Sanity rules, each lifted by ``force``:

- **shrink**: a list with fewer than half the entries of the last good copy is refused (a
  truncated or partial export would cut off hundreds of operators at once);
- **rollback**: a list whose ``DateDeGeneration`` is older than the stored one's is refused (a
  stale mirror or a replayed old file).

A good list is stored even when it is the same as before (one transaction; it also dates the copy).
The age of the copy is the time since the last success (or since the list was loaded, e.g. by
``mss whitelist import``); past ``whitelist_max_age`` every run logs a WARNING alert.

No redirects are followed and plain ``http://`` is refused: the list decides who may deliver to us.
A list stored on one node is seen at once by its own listeners and by the other nodes within
their cache check interval (see ``directory.sql_whitelist``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from directory.errors import WhitelistError
from directory.interfaces import Directory
from directory.models import Whitelist, WhitelistRefresh
from directory.whitelist import MAX_BYTES, parse_whitelist

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60.0
SHRINK_LIMIT = 0.5  # a new list under half the last good copy's entries is refused


class WhitelistFetchError(WhitelistError):
    """The source could not be read (network, TLS, HTTP status, file)."""

    temporary = True


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one refresh did: ``ok`` (the list was replaced) or not, and why."""

    ok: bool
    entries: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class WhitelistAge:
    """The copy in use: when it was last known good, its age, and whether it is stale."""

    last_good: datetime | None
    age: timedelta | None
    stale: bool


class WhitelistRefresher:
    """Fetches, checks and stores the list; records each attempt in the directory."""

    def __init__(
        self,
        directory: Directory,
        *,
        ca_file: Path | None = None,
        max_age: timedelta = timedelta(hours=48),
        timeout: float = DOWNLOAD_TIMEOUT,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory = directory
        self._ca_file = ca_file
        self._max_age = max_age
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock

    async def refresh(self, source: str, *, force: bool = False) -> RefreshResult:
        """One attempt from ``source``; never raises for a bad source, says why instead."""
        attempted_at = self._clock()
        previous = await self._directory.whitelist_refresh()
        try:
            data = await fetch(
                source,
                ca_file=self._ca_file,
                http_timeout=self._timeout,
                max_bytes=self._max_bytes,
            )
            digest = hashlib.sha256(data).hexdigest()
            whitelist = await asyncio.to_thread(parse_whitelist, data, max_bytes=self._max_bytes)
            await self._check_sane(whitelist, force=force)
            await self._directory.replace_whitelist(whitelist, attempted_at)
        except WhitelistError as error:
            return await self._record_failure(source, attempted_at, previous, str(error))
        entries = len(whitelist.entries)
        await self._directory.record_whitelist_refresh(
            WhitelistRefresh(attempted_at, attempted_at, "", entries, shown(source), digest)
        )
        log.info("whitelist refreshed entries=%d sha256=%s", entries, digest[:16])
        return RefreshResult(ok=True, entries=entries)

    async def _check_sane(self, whitelist: Whitelist, *, force: bool) -> None:
        if force:
            return
        status = await self._directory.whitelist_status()
        new = len(whitelist.entries)
        if status.entries and new < status.entries * SHRINK_LIMIT:
            raise WhitelistError(
                f"suspiciously small list: {new} entries, the last good copy has "
                f"{status.entries} (refused; --force to load it anyway)"
            )
        stored, generated = status.generated_at, whitelist.generated_at
        if stored is not None and generated is not None and generated < stored:
            raise WhitelistError(
                f"older list: generated {generated.isoformat()}, the last good copy "
                f"{stored.isoformat()} (refused; --force to load it anyway)"
            )

    async def _record_failure(
        self,
        source: str,
        attempted_at: datetime,
        previous: WhitelistRefresh | None,
        error: str,
    ) -> RefreshResult:
        status = await self._directory.whitelist_status()
        await self._directory.record_whitelist_refresh(
            WhitelistRefresh(
                attempted_at,
                previous.succeeded_at if previous else None,
                error,
                status.entries,
                shown(source),
                previous.source_sha256 if previous else "",
            )
        )
        log.warning("whitelist refresh failed, last good copy kept: %s", error)
        return RefreshResult(ok=False, entries=status.entries, error=error)

    async def age(self) -> WhitelistAge:
        """Age of the copy in use: since the last successful refresh, or since it was loaded."""
        status = await self._directory.whitelist_status()
        refresh = await self._directory.whitelist_refresh()
        moments = [m for m in (status.loaded_at, refresh and refresh.succeeded_at) if m]
        if not moments:
            return WhitelistAge(None, None, stale=True)
        last_good = max(moments)
        age = self._clock() - last_good
        return WhitelistAge(last_good, age, stale=age > self._max_age)

    async def report(self) -> dict[str, str | int | float | bool | None]:
        """The state of the list and of its refreshes, JSON-ready (``mss whitelist status``)."""
        status = await self._directory.whitelist_status()
        refresh = await self._directory.whitelist_refresh()
        age = await self.age()
        return {
            "entries": status.entries,
            "domains": status.domains,
            "generated_at": _iso(status.generated_at),
            "loaded_at": _iso(status.loaded_at),
            "last_success": _iso(age.last_good),
            "age_seconds": None if age.age is None else round(age.age.total_seconds()),
            "max_age_seconds": round(self._max_age.total_seconds()),
            "stale": age.stale,
            "last_attempt": _iso(refresh.attempted_at if refresh else None),
            "last_error": refresh.error if refresh else "",
            "source": refresh.source if refresh else "",
            "source_sha256": refresh.source_sha256 if refresh else "",
        }

    async def check_age(self) -> WhitelistAge:
        """MSS-TRUST-5: log a WARNING alert when the copy is older than the threshold."""
        age = await self.age()
        if age.stale:
            refresh = await self._directory.whitelist_refresh()
            log.warning(
                "ALERT whitelist is stale age_hours=%s max_age_hours=%.1f last_error=%s",
                "unknown" if age.age is None else f"{age.age.total_seconds() / 3600:.1f}",
                self._max_age.total_seconds() / 3600,
                (refresh.error if refresh else "") or "-",
            )
        return age

    async def scheduled(self, source: str, *, interval: float) -> RefreshResult | None:
        """One run of the scheduled job: refresh from ``source`` (when there is one and no
        node tried within half an interval), then the age alert."""
        result = None
        if source and not await self._tried_recently(interval / 2):
            result = await self.refresh(source)
        await self.check_age()
        return result

    async def _tried_recently(self, seconds: float) -> bool:
        refresh = await self._directory.whitelist_refresh()
        if refresh is None:
            return False
        return self._clock() - refresh.attempted_at < timedelta(seconds=seconds)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --- reading the source ------------------------------------------------------------------


async def fetch(
    source: str,
    *,
    ca_file: Path | None = None,
    http_timeout: float = DOWNLOAD_TIMEOUT,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """The bytes at ``source``: an ``https://`` URL, a ``file://`` URL or a path."""
    parts = urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return await _download(source, tls_context(ca_file), http_timeout, max_bytes)
    if scheme == "file":
        return await _read_file(Path(unquote(parts.path)), max_bytes)
    if scheme and len(scheme) > 1:  # "C:" is not a scheme
        raise WhitelistFetchError(f"{scheme}:// is not accepted: use https:// or a file path")
    return await _read_file(Path(source), max_bytes)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate and host name verified, TLS 1.2 at least (MSS-TLS-1)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise WhitelistFetchError(f"cannot read the CA bundle {ca_file}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def _download(
    url: str, context: ssl.SSLContext, http_timeout: float, max_bytes: int
) -> bytes:
    import httpx  # only in the refresh job: httpx (with click, rich) costs ~7 MB per process

    try:
        async with (
            httpx.AsyncClient(verify=context, timeout=http_timeout, trust_env=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != httpx.codes.OK:
                raise WhitelistFetchError(f"HTTP {response.status_code} from {_origin(url)}")
            return await _read_capped(response, max_bytes)
    except httpx.HTTPError as exc:
        raise WhitelistFetchError(_network_error(url, exc)) from None


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise WhitelistFetchError(f"the whitelist is larger than {max_bytes} bytes")
    return bytes(body)


def _network_error(url: str, exc: httpx.HTTPError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate of {_origin(url)} not trusted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failure with {_origin(url)}: {cause.reason}"
        cause = cause.__cause__ or cause.__context__
    import httpx  # loaded by _download already

    if isinstance(exc, httpx.TimeoutException):
        return f"timeout downloading from {_origin(url)}"
    return f"cannot download from {_origin(url)}: {type(exc).__name__}"


def shown(source: str) -> str:
    """``source`` as recorded and displayed: a URL without credentials nor query string."""
    parts = urlsplit(source)
    if parts.scheme.lower() not in ("https", "http"):
        return source
    return _origin(source) + parts.path


def _origin(url: str) -> str:
    """Scheme, host and port only: a URL may carry a token in its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


async def _read_file(path: Path, max_bytes: int) -> bytes:
    def read() -> bytes:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise WhitelistFetchError(f"the whitelist is larger than {max_bytes} bytes")
        return data

    try:
        return await asyncio.to_thread(read)
    except OSError as exc:
        raise WhitelistFetchError(f"cannot read {path}: {exc.strerror or exc}") from None
