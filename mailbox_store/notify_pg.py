"""Cross-node change notifications over PostgreSQL ``LISTEN/NOTIFY`` (ARCHITECTURE, "Scaling out").

``PgChangeHub`` is a ``ChangeHub`` whose ``publish`` also sends each change to the other nodes on
one database: a change is dispatched to this node's subscribers at once, as in-process, and put
in an outbox; one task per node owns a dedicated asyncpg connection (not one of the SQLAlchemy
pool), ``LISTEN``s on the channel and sends the outbox with ``pg_notify`` in publish order (the
stores publish after commit, in commit order, so a receiver reads committed rows). What it
receives from other nodes goes to ``dispatch``; its own echoes are recognised by the node id.

Besides changes, the hub carries *signals*: named wake-ups without content (``signal("queue")``)
that run the callbacks registered with ``on_signal`` on every other node (the outbound queue's
and the DMP filing jobs' workers, which otherwise only poll).

When the connection drops (or stops answering the keepalive), the hub reconnects with an
exponential backoff. The outbox is kept meanwhile (bounded: past ``outbox_max`` it is replaced by
one "resync" message), and sent after the reconnection; changes from other nodes may have been
missed, so every local subscription is told to resynchronise (``ChangeSubscription.resync``) and
every signal callback runs once. Payload format: ``mailbox_store.notify_wire``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.engine import make_url

from mailbox_store import notify_wire
from mailbox_store.models import Change
from mailbox_store.notify import DEFAULT_QUEUE_SIZE, ChangeHub, ChangeSubscription

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "mss_changes"
CONNECT_TIMEOUT = 10.0
PING_TIMEOUT = 5.0
CLOSE_TIMEOUT = 5.0

Connect = Callable[[], Awaitable[Any]]  # an asyncpg connection (typed Any: asyncpg is untyped)


# options of SQLAlchemy's asyncpg dialect, not of the server (asyncpg would send them as settings)
_DIALECT_OPTIONS = (
    "prepared_statement_cache_size",
    "prepared_statement_name_func",
    "async_fallback",
)


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN asyncpg wants, from a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    parsed = make_url(url).set(drivername="postgresql").difference_update_query(_DIALECT_OPTIONS)
    return parsed.render_as_string(hide_password=False)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


class PgChangeHub(ChangeHub):
    def __init__(
        self,
        dsn: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        keepalive: float = 30.0,
        reconnect_min: float = 0.05,
        reconnect_max: float = 5.0,
        outbox_max: int = 100_000,
        secret: bytes = b"",
        connect: Connect | None = None,
        ping_timeout: float = PING_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self.node = secrets.token_hex(4)
        self.dsn = dsn  # holds the password: never logged
        self._channel = channel
        self._keepalive = keepalive
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._reconnect = (reconnect_min, reconnect_max)
        self._outbox_max = outbox_max
        self._secret = secret
        self._connect_fn = connect or self._connect_default
        self._outbox: list[tuple[str, Change]] = []
        self._signals: set[str] = set()
        self._lost = False  # the outbox overflowed: the other nodes must resync
        self._pending = asyncio.Event()
        self._handlers: dict[str, list[Callable[[], None]]] = {}
        self._by_key: dict[str, str] = {}  # account digest -> account, for local subscribers
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()  # cuts a reconnection delay short
        self.connected = asyncio.Event()
        self.connects = 0  # successful connections so far (tests, metrics)
        self.server_pid: int | None = None  # of the LISTEN connection while connected
        self.received = 0  # payloads from other nodes

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background: start-up does not wait for (nor fail on) the database."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pg-notify")

    async def close(self) -> None:
        """Send what is still in the outbox (briefly), then drop the connection."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._stopped.set()
        self._pending.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=self._close_timeout)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._has_pending():
            log.warning("notify hub stopped with %d changes unsent", len(self._outbox))

    # -- the ChangeHub entry points ----------------------------------------------------------

    def subscribe(self, account: str) -> ChangeSubscription:
        self._by_key[notify_wire.account_key(account, self._secret)] = account
        return super().subscribe(account)

    def unsubscribe(self, subscription: ChangeSubscription) -> None:
        super().unsubscribe(subscription)
        if not self.subscriber_count(subscription.account):
            self._by_key.pop(notify_wire.account_key(subscription.account, self._secret), None)

    def publish(self, change: Change) -> None:
        self.dispatch(change)
        if len(self._outbox) >= self._outbox_max:  # disconnected for long: say "resync" instead
            self._outbox.clear()
            self._lost = True
        else:
            self._outbox.append((notify_wire.account_key(change.account, self._secret), change))
        self._pending.set()

    def signal(self, name: str) -> None:
        """Wake the ``name`` callbacks of every other node (coalesced until the next send)."""
        self._signals.add(name)
        self._pending.set()

    def on_signal(self, name: str, callback: Callable[[], None]) -> None:
        """Run ``callback`` (on the event loop) when another node signals ``name``, and after
        a reconnection (signals may have been missed)."""
        self._handlers.setdefault(name, []).append(callback)

    # -- the connection ----------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, listen and send until stopped; at once again after a connection that
        worked, after a growing delay while connecting (or listening) fails."""
        delay = self._reconnect[0]
        while not self._stopping or self._has_pending():  # stopping: send the outbox first
            if await self._session():
                delay = self._reconnect[0]
                continue
            if self._stopping:  # the last try failed: the outbox is given up
                return
            await self._backoff(delay)
            delay = min(delay * 2, self._reconnect[1])

    async def _session(self) -> bool:
        """One connection's life; True if it got to listen."""
        try:
            conn = await self._connect_fn()
        except Exception as error:  # refused, DNS, auth, timeout: try again later
            log.warning("notify connection failed error=%s", type(error).__name__)
            return False
        connects = self.connects
        try:
            await self._serve(conn)
        except asyncio.CancelledError:
            conn.terminate()
            raise
        except Exception as error:
            log.warning("notify connection lost error=%s; reconnecting", type(error).__name__)
        finally:
            self.connected.clear()
            self.server_pid = None
        await _close(conn, self._ping_timeout)
        return self.connects > connects

    async def _connect_default(self) -> Any:
        import asyncpg  # PostgreSQL only: an embedded (SQLite) server never loads it (issue 3)

        return await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": "mss-notify"},
        )

    async def _serve(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self._channel, self._received)
        self.server_pid = conn.get_server_pid()
        self.connects += 1
        self.connected.set()
        log.info("notify listening channel=%s node=%s", self._channel, self.node)
        self._missed()
        while True:
            if lost.is_set() or conn.is_closed():
                raise ConnectionError("the LISTEN connection closed")
            if self._has_pending():
                await self._flush(conn)
                continue
            if self._stopping:
                return
            if not await _either(self._pending, lost, self._keepalive):
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=self._ping_timeout)

    def _has_pending(self) -> bool:
        return bool(self._outbox or self._signals or self._lost)

    async def _flush(self, conn: Any) -> None:
        """Send the outbox; on failure it stays for the next connection (at least once)."""
        self._pending.clear()
        outbox, signals, lost = self._outbox, self._signals, self._lost
        self._outbox, self._signals, self._lost = [], set(), False
        payloads = notify_wire.encode(self.node, outbox, signals=sorted(signals), resync=lost)
        try:
            if len(payloads) == 1:
                await conn.execute("SELECT pg_notify($1, $2)", self._channel, payloads[0])
            else:  # one transaction: delivered together, in this order
                await conn.executemany(
                    "SELECT pg_notify($1, $2)", [(self._channel, p) for p in payloads]
                )
        except BaseException:
            self._outbox[:0] = outbox
            self._signals |= signals
            self._lost = self._lost or lost
            raise

    def _missed(self) -> None:
        """After a (re)connection: what other nodes said meanwhile was not heard."""
        self.resync_all()
        for callbacks in self._handlers.values():
            for callback in callbacks:
                _call(callback)

    def _received(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid == self.server_pid:  # this connection's own NOTIFY: not even decoded
            return
        try:
            message = notify_wire.decode(payload)
        except notify_wire.PayloadError as error:
            log.warning("notify payload ignored size=%d error=%s", len(payload), error)
            return
        if message.node == self.node:
            return
        self.received += 1
        if message.resync:
            self.resync_all()
        for remote in message.changes:
            account = self._by_key.get(remote.key)
            if account is not None:
                self.dispatch(remote.for_account(account))
        for name in message.signals:
            for callback in self._handlers.get(name, ()):
                _call(callback)

    async def _backoff(self, delay: float) -> None:
        jittered = delay * (0.5 + random.random())  # noqa: S311 (jitter, not secrets)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=jittered)


async def _either(event: asyncio.Event, other: asyncio.Event, seconds: float) -> bool:
    """Wait until one of the events is set (True) or ``seconds`` pass (False)."""
    waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(other.wait())}
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


async def _close(conn: Any, seconds: float) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=seconds)
    except Exception:  # already gone: make sure the socket is
        conn.terminate()


def _call(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        log.exception("notify signal callback failed")
