"""The composition root: build every component from the settings, start listeners and jobs, stop
cleanly. ``run()`` is what ``mss serve`` and ``mss demo`` call; tests start the same thing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from directory.interfaces import Directory
from directory.refresh import WhitelistRefresher
from directory.sql import SqlDirectory
from directory.whitelist import parse_whitelist
from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.inline import InlineBlobs
from mailbox_store.interfaces import MailboxStore
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mss.audit import AuditLog, SqlAuditLog
from mss.auth import Authenticator
from mss.cluster import change_hub, wire_wakeups
from mss.db import make_engine
from mss.delivery import DeliveryService, Envelope, Origin, Recipient
from mss.delivery.service import DeliverySettings
from mss.dkim.config import inbound_dkim
from mss.dmp.bridge import DmpBridge, build_bridge
from mss.imap import search_persist
from mss.imap.listeners import close_sessions, start_imap
from mss.imap.search_warmer import SearchWarmer
from mss.imap.services import ImapServices
from mss.listening import Listener
from mss.notify.build import Notifications, build_notifications
from mss.outbound import OutboundQueue
from mss.policy.facts import Channel, Limits, SessionFacts
from mss.relay.runner import build_enqueuer, relaying
from mss.schema import upgrade
from mss.smtp.listeners import start_smtp
from mss.smtp.server import SmtpServices
from mss.tls import server_context

log = logging.getLogger(__name__)


@dataclass
class Operator:
    """Everything a running operator is made of; listeners are empty until started."""

    settings: Settings
    engine: AsyncEngine
    directory: Directory
    store: MailboxStore
    audit: AuditLog
    delivery: DeliveryService
    authenticator: Authenticator
    listeners: dict[str, Listener] = field(default_factory=dict)
    dmp: DmpBridge | None = None  # the DMP bridge (issue 5): store, filing jobs, MDN
    outbound: OutboundQueue | None = None  # the outbound queue (issue 4)
    notifications: Notifications | None = None  # MSS-PAT-7, DMP-AUD-1: patient e-mails
    hub: ChangeHub | None = None  # change notifications (cross-node on PostgreSQL, mss.cluster)


@asynccontextmanager
async def open_operator(settings: Settings) -> AsyncIterator[Operator]:
    """Storage, directory, store, audit and services, without listeners (CLI commands use it)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        engine = make_engine(
            settings.database_url,
            fsync=settings.storage.fsync,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            pool_size=settings.database.pool_size,
        )
        stack.push_async_callback(engine.dispose)
        await upgrade(engine)
        hub = await stack.enter_async_context(change_hub(settings))  # LISTEN/NOTIFY on PostgreSQL
        directory = SqlDirectory(engine, settings.directory)
        keyring = KeyRing.from_settings(settings.storage)
        blobs = FileBlobStore(settings.storage.blob_dir, keyring, fsync=settings.storage.fsync)
        store = SqlMailboxStore(
            engine,
            blobs,
            hub,
            group_commit_max=settings.storage.group_commit_max,
            inline=InlineBlobs(keyring, settings.storage.inline_max)
            if settings.storage.inline_max
            else None,
            keyring=keyring,  # header sections sealed like bodies (IMAP SEARCH/FETCH HEADER)
        )
        stack.push_async_callback(store.close)
        stack.push_async_callback(search_persist.drain)  # saves of SEARCH index columns
        audit = SqlAuditLog(engine)
        stack.push_async_callback(audit.close)

        async def send_mdn(recipient: str, message: bytes) -> bool:
            return await submit_internal(delivery, recipient, message)

        dmp = build_bridge(
            engine=engine,
            keyring=keyring,
            mailboxes=store,
            patients=directory,
            settings=settings.dmp,
            hostname=settings.smtp.hostname,
            transport=send_mdn,
        )
        enqueuer = build_enqueuer(settings, engine, keyring)
        notifications = build_notifications(  # internal: the médecin traitant's BAL (DMP-ACL-3)
            settings, engine=engine, directory=directory, dmp=dmp.store, internal=send_mdn
        )
        delivery = DeliveryService(
            outbound=enqueuer,
            directory=directory,
            store=store,
            audit=audit,
            settings=DeliverySettings(
                hostname=settings.smtp.hostname,
                limits=Limits(
                    max_recipients=settings.smtp.max_recipients,
                    patient_max_size=settings.policy.patient_max_message_size,
                ),
            ),
            after_delivery=[dmp.hook, notifications.hook],
        )
        authenticator = Authenticator(directory, failure_delay=settings.smtp.auth_failure_delay)
        wire_wakeups(hub, enqueuer.queue, dmp.worker)  # other nodes' workers (mss.cluster)
        yield Operator(
            settings,
            engine,
            directory,
            store,
            audit,
            delivery,
            authenticator,
            dmp=dmp,
            outbound=enqueuer.queue,
            notifications=notifications,
            hub=hub,
        )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Operator]:
    """A running operator: listeners open and jobs scheduled until the context exits."""
    async with AsyncExitStack() as stack:
        operator = await stack.enter_async_context(open_operator(settings))
        await load_whitelist_if_empty(operator)
        services = SmtpServices(
            delivery=operator.delivery,
            authenticator=operator.authenticator,
            audit=operator.audit,
            max_bad_commands=settings.smtp.max_bad_commands,
            max_connections=settings.smtp.max_connections,
            dkim=inbound_dkim(settings.dkim, settings.smtp.hostname),
        )
        stack.push_async_callback(services.close_sessions)
        for listener in await start_smtp(settings.smtp, settings.tls, services, settings.proxy):
            operator.listeners[listener.name] = listener
            stack.push_async_callback(_close_server, listener.server)
            if listener.gate is not None:  # PROXY protocol: headers still awaited
                stack.push_async_callback(listener.gate.close)
        imap = ImapServices(
            store=operator.store,
            authenticator=Authenticator(
                operator.directory, failure_delay=settings.imap.auth_failure_delay
            ),
            audit=operator.audit,
            settings=settings.imap,
            tls_context=server_context(settings.tls, request_client_cert=False),
        )
        stack.push_async_callback(close_sessions, imap)
        for imap_listener in await start_imap(imap, settings.proxy):
            name, server = imap_listener.name, imap_listener.server
            operator.listeners[name] = Listener(name, server)
            stack.push_async_callback(_close_server, imap_listener.server)
            if imap_listener.gate is not None:  # PROXY protocol: headers still awaited
                stack.push_async_callback(imap_listener.gate.close)
        if settings.imap.search_index_warm:  # issue 3: SEARCH columns built ahead
            warmer = asyncio.create_task(
                SearchWarmer(operator.store, settings.imap).run(), name="search-warmer"
            )
            stack.push_async_callback(_cancel, warmer)
        if operator.outbound is not None:  # issue 4: the queue's workers and the SMTP relay
            await stack.enter_async_context(
                relaying(
                    settings,
                    queue=operator.outbound,
                    reporter=operator.delivery,
                    trust=operator.directory,
                    audit=operator.audit,
                    enqueuer=operator.delivery.outbound,
                )
            )
        job = asyncio.create_task(_profile_job(operator), name="profile-job")
        stack.push_async_callback(_cancel, job)
        refresh = asyncio.create_task(_whitelist_job(operator), name="whitelist-job")
        stack.push_async_callback(_cancel, refresh)
        if operator.dmp is not None:  # files what a crash left, then what deliveries queue
            filing = asyncio.create_task(operator.dmp.worker.run(), name="dmp-filing")
            stack.push_async_callback(_cancel, filing)
        if operator.notifications is not None and operator.notifications.job is not None:
            notify = asyncio.create_task(operator.notifications.job.run(), name="notify-job")
            stack.push_async_callback(_cancel, notify)
        yield operator


async def run(
    settings: Settings, *, ready: Callable[[Operator], Awaitable[None]] | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, then stop listeners and flush everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serving(settings) as operator:
        if ready is not None:
            await ready(operator)
        await stop.wait()
        log.info("stopping")


async def load_whitelist_if_empty(operator: Operator) -> None:
    """MSS-TRUST-1: the configured list is loaded when the database has none yet."""
    path = operator.settings.directory.whitelist_file
    status = await operator.directory.whitelist_status()
    if path is None or status.entries:
        return
    whitelist = parse_whitelist(path.read_bytes())
    await operator.directory.replace_whitelist(whitelist, datetime.now(UTC))
    log.info("whitelist loaded entries=%d", len(whitelist.entries))


async def _profile_job(operator: Operator) -> None:
    """MSS-PAT-1: pending profiles open after the notice period unless opposed."""
    settings = operator.settings.directory
    while True:
        try:
            opened = await operator.directory.open_due_profiles(
                datetime.now(UTC), timedelta(days=settings.auto_create_after_days)
            )
            if opened:
                log.info("profiles auto-created count=%d", len(opened))
        except Exception:
            log.exception("profile job failed; will try again")
        await asyncio.sleep(settings.profile_job_interval)


async def submit_internal(delivery: DeliveryService, recipient: str, message: bytes) -> bool:
    """An operator-made message (an MDN, DMP-MDN-1) through the one delivery path, sender <>."""
    origin = Origin(SessionFacts(Channel.INTERNAL), protocol="LOCAL", actor="mss")
    report = await delivery.submit(origin, Envelope("", (Recipient(recipient),)), message)
    return bool(report.accepted)  # stored here or queued for a remote sender


def whitelist_refresher(operator: Operator) -> WhitelistRefresher:
    """MSS-TRUST-5: the refresher of the whitelist, from ``[directory]`` settings."""
    settings = operator.settings.directory
    return WhitelistRefresher(
        operator.directory,
        ca_file=settings.whitelist_ca_file,
        max_age=timedelta(seconds=settings.whitelist_max_age),
    )


async def _whitelist_job(operator: Operator) -> None:
    """MSS-TRUST-5: refresh the list from its source, alert when the copy grows stale."""
    settings = operator.settings.directory
    refresher = whitelist_refresher(operator)
    while True:
        try:
            await refresher.scheduled(
                settings.whitelist_url, interval=settings.whitelist_refresh_interval
            )
        except Exception:
            log.exception("whitelist job failed; will try again")
        await asyncio.sleep(settings.whitelist_refresh_interval)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=5)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
