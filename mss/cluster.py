"""Several nodes on one PostgreSQL database: the change hub and the workers' wake-ups.

On PostgreSQL the composition root gets a ``PgChangeHub`` (``LISTEN/NOTIFY``): IMAP IDLE on one
node hears deliveries, flag changes and expunges made on another. The same connection carries
two signals: ``queue`` (outbound recipients due that this node's worker did not take) and
``filing`` (DMP filing jobs this node's worker is too busy to start at once), which wake the
other nodes' workers; their polls (``outbound.poll_interval``, ``dmp.filing_poll_interval``)
stay as the fallback. On SQLite (one node) the in-process hub is used and nothing is signalled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config import Settings
from mailbox_store.notify import ChangeHub
from mailbox_store.notify_pg import PgChangeHub, asyncpg_dsn, is_postgres
from mss.dmp.worker import FilingWorker
from mss.outbound import OutboundQueue, SqlOutboundQueue

QUEUE = "queue"
FILING = "filing"


@asynccontextmanager
async def change_hub(settings: Settings) -> AsyncIterator[ChangeHub]:
    """The hub of this node: cross-node on PostgreSQL, in-process otherwise."""
    url = settings.database_url
    if not is_postgres(url):
        yield ChangeHub()
        return
    database = settings.database
    hub = PgChangeHub(
        asyncpg_dsn(database.notify_url or url),
        channel=database.notify_channel,
        keepalive=database.notify_keepalive,
        reconnect_max=database.notify_reconnect_max,
    )
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()


def wire_wakeups(hub: ChangeHub, queue: OutboundQueue | None, filing: FilingWorker | None) -> None:
    """Work added on one node wakes the workers of the others (and a signal heard here wakes
    this node's)."""
    if not isinstance(hub, PgChangeHub):
        return
    if isinstance(queue, SqlOutboundQueue):
        hub.on_signal(QUEUE, queue.enqueued.set)
        queue.announce = lambda: hub.signal(QUEUE)
    if filing is not None:
        hub.on_signal(FILING, filing.wake_local)
        filing.announce = lambda: hub.signal(FILING)
