"""One IMAP connection: its state, the command loop, and the untagged updates of the selected
mailbox (RFC 3501 §3 states, §7.4.1 when EXPUNGE may be sent).

Commands are dispatched through :data:`mss.imap.dispatch.COMMANDS`; handlers live in one module
per command group. Failures become replies in one place (:mod:`mss.imap.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mailbox_store.errors import StoreError, UnknownFolder
from mailbox_store.interfaces import Subscription
from mailbox_store.models import Change, ChangeKind, MessageRecord
from mss.audit import AuditEvent
from mss.auth import Principal
from mss.imap.capabilities import capabilities
from mss.imap.connection import Connection, ConnectionLost, LineTooLong, TimedOut
from mss.imap.errors import CloseConnection, ImapError, from_store_error
from mss.imap.services import ImapServices
from mss.imap.view import SelectedView
from mss.wire.imap.command import AnyCommand
from mss.wire.imap.errors import ImapSyntaxError, LiteralTooLargeError
from mss.wire.imap.framing import CommandAssembler
from mss.wire.imap.lexer import Limits, LiteralRequest
from mss.wire.imap.qresync import uid_spans, vanished
from mss.wire.imap.response import (
    Atom,
    Code,
    Continuation,
    Data,
    FetchData,
    Tagged,
    Untagged,
    Value,
)

log = logging.getLogger(__name__)
MAX_BUFFERED_CHANGES = 4096
_NON_SYNC_LITERAL = re.compile(rb"\{(\d{1,20})\+\}\r\n$")


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


@dataclass(frozen=True, slots=True)
class Done:
    """A handler's success: the tagged ``OK`` text and response code."""

    text: str = "done"
    code: Code | None = None
    answered: bool = False  # the handler sent the tagged reply itself (STARTTLS)


class Session:
    def __init__(
        self, services: ImapServices, conn: Connection, *, listener: str, starttls: bool
    ) -> None:
        self.services = services
        self.conn = conn
        self.listener = listener
        self.starttls_allowed = starttls
        self.session_id = secrets.token_hex(8)
        self.state = State.NOT_AUTHENTICATED
        self.principal: Principal | None = None
        self.view: SelectedView | None = None
        self.condstore = False
        self.qresync = False  # ENABLE QRESYNC: VANISHED replaces EXPUNGE (RFC 7162 §3.2.10)
        self.bad_commands = 0
        settings = services.settings
        self.assembler = CommandAssembler(
            Limits(
                max_append_literal=settings.max_literal,
                max_literal=min(settings.max_literal, 64 * 1024),
            )
        )
        self._subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._changes: list[Change] = []
        self._overflow = False
        self._idling = False  # in IDLE: the pump writes the updates as they come (RFC 2177)
        self._push_lock = asyncio.Lock()  # one writer of updates at a time during IDLE
        self._started = time.monotonic()
        self.task: asyncio.Task[Any] | None = None

    # -- identity ------------------------------------------------------------------------

    @property
    def account(self) -> str:
        if self.principal is None:
            raise RuntimeError("not authenticated")
        return self.principal.identity

    def audit(self, event: AuditEvent, **details: str | int | None) -> None:
        principal = self.principal
        self.services.audit.record(
            event,
            session_id=self.session_id,
            peer=self.conn.peer,
            actor=principal.user if principal else None,
            mailbox=principal.identity if principal else None,
            **details,
        )

    def capabilities(self) -> tuple[str, ...]:
        return capabilities(
            tls=self.conn.tls,
            can_starttls=self.starttls_allowed,
            authenticated=self.state in (State.AUTHENTICATED, State.SELECTED),
        )

    def capability_code(self) -> Code:
        return Code("CAPABILITY", tuple(Atom(c) for c in self.capabilities()))

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        self.task = asyncio.current_task()
        self.services.sessions.add(self)
        self.audit(AuditEvent.CONNECTION_OPENED, listener=self.listener)
        reason = "logout"
        try:
            await self.conn.send(Untagged("OK", "mss IMAP4rev1 ready", self.capability_code()))
            await self.conn.drain()
            while self.state is not State.LOGOUT:
                command = await self._read_command()
                if command is not None:
                    await self.execute(command)
                await self.conn.drain()
        except CloseConnection as bye:
            reason = "closed"
            await self._bye(bye.text)
        except LineTooLong:
            reason = "line too long"
            await self._bye("Line too long")
        except TimedOut:
            reason = "timeout"
            await self._bye("Autologout: idle for too long")
        except ConnectionLost as lost:
            reason = str(lost)
        except asyncio.CancelledError:
            reason = "shutdown"
            await self._bye("Server shutting down")
            raise
        except Exception:
            reason = "server error"
            log.exception("imap session failed session=%s", self.session_id)
        finally:
            await self._cleanup(reason)

    async def _bye(self, text: str) -> None:
        with contextlib.suppress(ConnectionLost, ConnectionError, RuntimeError):
            await self.conn.send(Untagged("BYE", text))
            await self.conn.drain()

    async def _cleanup(self, reason: str) -> None:
        self.stop_changes()
        try:
            await self.conn.close()
        finally:  # still listed while closing, so that a shutdown can cancel and abort it
            self.services.sessions.discard(self)
        duration = int((time.monotonic() - self._started) * 1000)
        self.audit(
            AuditEvent.CONNECTION_CLOSED,
            listener=self.listener,
            reason=reason,
            duration_ms=duration,
        )

    def read_timeout(self) -> float:
        settings = self.services.settings
        if self.state is State.NOT_AUTHENTICATED:
            return settings.login_timeout
        return settings.idle_timeout  # RFC 3501 §5.4 autologout timer

    async def read_line(self) -> bytes:
        return await self.conn.read_line(self.read_timeout())

    async def _read_command(self) -> AnyCommand | None:
        line = await self.read_line()
        try:
            result = self.assembler.line(line)
            while isinstance(result, LiteralRequest):
                if not result.non_synchronizing:
                    await self.conn.send(Continuation("Ready"))
                    await self.conn.drain()
                self.assembler.literal(await self.conn.read_exact(result.size, self.read_timeout()))
                line = await self.read_line()
                result = self.assembler.line(line)
            return result
        except LiteralTooLargeError as exc:
            if exc.non_synchronizing:  # RFC 7888 §4: the bytes are already on their way
                raise CloseConnection("Literal too large") from exc
            await self.reply(Tagged(exc.tag or "*", "NO", "Literal too large", Code("TOOBIG")))
            await self.count_bad()
        except ImapSyntaxError as exc:
            await self._skip_literals(line)
            text = f"Syntax error: {exc}"
            if exc.tag:
                await self.reply(Tagged(exc.tag, "BAD", text, Code("CLIENTBUG")))
            else:
                await self.reply(Untagged("BAD", text))
            await self.count_bad()
        return None

    async def _skip_literals(self, line: bytes) -> None:
        """After a syntax error, the non-synchronising literals the client is already sending
        (RFC 7888) are read and dropped: their bytes must never be taken for commands."""
        while (match := _NON_SYNC_LITERAL.search(line)) is not None:
            size = int(match.group(1))
            if size > self.assembler.limits.max_append_literal:
                raise CloseConnection("Literal too large")
            await self.conn.read_exact(size, self.read_timeout())
            line = await self.read_line()

    async def reply(self, *responses: Tagged | Untagged | Data | FetchData | Continuation) -> None:
        await self.conn.send(*responses)

    async def count_bad(self) -> None:
        """Syntax errors and failed logins; past ``max_bad_commands`` the connection ends."""
        self.bad_commands += 1
        if self.bad_commands >= self.services.settings.max_bad_commands:
            raise CloseConnection("Too many bad commands")

    async def execute(self, command: AnyCommand) -> None:
        from mss.imap.dispatch import lookup  # the handlers import this module

        entry, verb = lookup(command)
        tagged: Tagged | None
        if entry is None or self.state not in entry.states:
            tagged = Tagged(
                command.tag, "BAD", f"{verb} is not valid in this state", Code("CLIENTBUG")
            )
        else:
            tagged = await self._run_handler(entry.handler, command, verb)
            if self.view is not None and self.state is State.SELECTED:
                await self.send_updates(expunge=entry.expunge_ok(command))
        if tagged is None:
            return
        await self.reply(tagged)
        if tagged.status == "BAD":
            await self.count_bad()

    async def _run_handler(
        self,
        handler: Callable[[Session, Any], Awaitable[Done | None]],
        command: AnyCommand,
        verb: str,
    ) -> Tagged | None:
        try:
            done = await handler(self, command)
        except ImapError as exc:
            return exc.response(command.tag)
        except StoreError as exc:
            if not exc.temporary and type(exc).__name__ not in _EXPECTED_STORE_ERRORS:
                log.warning("store error in %s: %s", verb, type(exc).__name__)
            return from_store_error(exc).response(command.tag)
        except (CloseConnection, ConnectionLost, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("imap command failed verb=%s session=%s", verb, self.session_id)
            return Tagged(command.tag, "NO", "Internal error, try again later", Code("SERVERBUG"))
        done = done if isinstance(done, Done) else Done()
        if done.answered:
            return None
        return Tagged(
            command.tag, "OK", done.text if done.text != "done" else f"{verb} completed", done.code
        )

    # -- changes of the account ----------------------------------------------------------

    def start_changes(self) -> None:
        """Subscribe to the account's changes (right after login)."""
        self._subscription = self.services.store.subscribe(self.account)
        self._pump = asyncio.create_task(self._pump_changes(self._subscription))

    def stop_changes(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    async def _pump_changes(self, subscription: Subscription) -> None:
        async for change in subscription:
            if len(self._changes) >= MAX_BUFFERED_CHANGES:
                self._changes.clear()
                self._overflow = True
            self._changes.append(change)
            if self._idling:
                await self._push_while_idle()

    def take_changes(self) -> list[Change]:
        changes, self._changes = self._changes, []
        return changes

    # -- IDLE (RFC 2177) -----------------------------------------------------------------

    async def idle(self) -> bytes:
        """Push updates until the client sends a line; that line (``DONE`` or not).

        No task of its own: this session's task waits for the client's line while the pump,
        which receives the account's changes anyway, writes the updates as they come
        (issue 3: 2,000 idle connections are counted in memory). Silence beyond the idle
        timeout ends the session (``TimedOut``)."""
        self._idling = True
        try:
            async with self._push_lock:
                await self._push_updates()  # what happened before IDLE
            return await self.conn.read_line(self.services.settings.idle_timeout)
        finally:
            self._idling = False
            async with self._push_lock:
                pass  # an update the pump is writing ends before the tagged reply

    async def _push_while_idle(self) -> None:
        """In the pump: write the updates; a failure ends the session, whose task is reading."""
        try:
            async with self._push_lock:
                if self._idling:  # not if DONE came while we waited
                    await self._push_updates()
        except (CloseConnection, ConnectionLost) as exc:
            self.conn.interrupt(exc)
        except Exception:
            log.exception("imap idle update failed session=%s", self.session_id)
            self.conn.interrupt(ConnectionLost("server error"))

    async def _push_updates(self) -> None:
        if self.view is not None:
            await self.send_updates(expunge=True)
            await self.conn.drain()
        else:
            self.take_changes()

    async def send_updates(self, *, expunge: bool) -> None:
        try:
            await self.report_updates(expunge=expunge)
        except UnknownFolder as exc:
            raise CloseConnection("The selected mailbox was deleted") from exc
        except StoreError as exc:  # the updates wait for the next command
            log.warning(
                "imap updates failed session=%s error=%s", self.session_id, type(exc).__name__
            )

    async def report_updates(self, *, expunge: bool) -> None:
        """Send EXISTS / EXPUNGE / FETCH FLAGS for what changed since the last report."""
        view = self.view
        if view is None:
            return
        await asyncio.sleep(0)  # let the pump hand over changes committed by this very command
        self._note_changes(view)
        store = self.services.store
        folder_id = view.folder.id
        if view.folder_changed:
            await self._check_folder(view)
        if view.resync:
            await self._resync(view)
        elif view.new_messages:
            view.new_messages = False
            try:
                records = await store.list_messages(folder_id, view.max_uid + 1)
                await self._add_new(view, [r.uid for r in records])
            except StoreError:  # looked at again after the next command, not lost
                view.new_messages = True
                raise
        if expunge and view.pending_expunge and self.qresync:
            gone = [uid for uid in sorted(view.pending_expunge) if view.remove(uid) is not None]
            view.expunge_floor = 0
            await self.reply(*vanished(uid_spans(gone)))
        elif view.pending_expunge and self.qresync and view.expunge_floor:
            # Removals held back (FETCH, STORE, SEARCH): a client keeping the MODSEQs it just
            # got must not resync from above them; this mod-sequence is safe (as Dovecot does).
            safe = Code("HIGHESTMODSEQ", (view.expunge_floor - 1,))
            await self.reply(Untagged("OK", "Expunges pending", safe))
        elif expunge and view.pending_expunge:
            for uid in sorted(view.pending_expunge):
                number = view.remove(uid)
                if number is not None:
                    await self.reply(Data((number, Atom("EXPUNGE"))))
        if view.flags_changed:
            view.flags_changed = False
            try:
                await self._report_flags(view)
            except StoreError:  # reported after the next command, not lost
                view.flags_changed = True
                raise

    def _note_changes(self, view: SelectedView) -> None:
        take_overflow = getattr(self._subscription, "take_overflow", None)  # the hub dropped some
        if self._overflow or (take_overflow is not None and take_overflow()):
            self._overflow = False
            view.resync = True
        for change in self.take_changes():
            if change.folder_id != view.folder.id:
                continue
            view.highest_modseq = max(view.highest_modseq, change.modseq)
            if change.kind is ChangeKind.EXISTS:
                view.new_messages = True
            elif change.kind is ChangeKind.EXPUNGE:
                held = [uid for uid in change.uids if view.msn(uid)]
                view.pending_expunge.update(held)
                if held and not 0 < view.expunge_floor <= change.modseq:
                    view.expunge_floor = change.modseq
            elif change.kind is ChangeKind.FLAGS:
                view.flags_changed = True
            else:
                view.folder_changed = True

    async def _check_folder(self, view: SelectedView) -> None:
        """The selected folder was renamed (follow it) or deleted (the session ends)."""
        view.folder_changed = False
        folders = await self.services.store.list_folders(self.account)
        current = next((f for f in folders if f.id == view.folder.id), None)
        if current is None:
            raise CloseConnection("The selected mailbox was deleted")
        view.folder = current

    async def _resync(self, view: SelectedView) -> None:
        records = await self.services.store.list_messages(view.folder.id)
        present = {r.uid for r in records}
        view.pending_expunge.update(uid for uid in view.uids if uid not in present)
        await self._add_new(view, [r.uid for r in records if r.uid > view.max_uid])
        view.resync = False  # only once done: a store error leaves it for the next command
        view.flags_changed = True

    async def _add_new(self, view: SelectedView, uids: list[int]) -> None:
        if not uids:
            return
        if not view.readonly:  # claimed before the view grows: a failure leaves it as it was
            first = await self.services.store.claim_recent(view.folder.id, max(uids) + 1)
            view.recent.update(uid for uid in uids if uid >= first)
        view.add(uids)
        await self.reply(
            Data((view.exists, Atom("EXISTS"))), Data((view.recent_count(), Atom("RECENT")))
        )

    async def _report_flags(self, view: SelectedView) -> None:
        records = await self.services.store.changed_since(view.folder.id, view.known_modseq)
        for record in records:
            view.known_modseq = max(view.known_modseq, record.modseq)
            number = view.msn(record.uid)
            if number is None or record.uid in view.pending_expunge:
                continue
            if view.own_modseq.get(record.uid) == record.modseq:
                continue
            if view.add_flags(record.flags):
                await self.reply(*view.flag_responses())
            await self.reply(FetchData(number, self.flag_items(view, record, uid=True)))

    def flag_items(
        self, view: SelectedView, record: MessageRecord, *, uid: bool
    ) -> tuple[tuple[str, Value], ...]:
        items: list[tuple[str, Value]] = []
        if uid or self.qresync:  # with QRESYNC every FETCH of flags names its UID
            items.append(("UID", record.uid))
        items.append(("FLAGS", tuple(Atom(f) for f in view.flags_of(record))))
        if self.condstore:
            items.append(("MODSEQ", (record.modseq,)))
        return tuple(items)


_EXPECTED_STORE_ERRORS = frozenset(
    {
        "UnknownFolder",
        "FolderExists",
        "QuotaExceeded",
        "HasChildren",
        "FolderProtected",
        "UnknownMessage",
    }
)
