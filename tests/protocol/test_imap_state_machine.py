"""A Hypothesis rule-based state machine drives two real IMAP sessions on one mailbox (issue 3).

Random sequences of APPEND, STORE / UID STORE (with and without .SILENT), COPY into the same
mailbox, MOVE out of it, EXPUNGE / UID EXPUNGE, re-SELECT, NOOP and deliveries through the store,
run by either session, against a simple model: the list of (UID, flags) of the mailbox.

Each session keeps the view a client builds from what the server tells it, in order: ``EXPUNGE n``
removes the n-th message, ``EXISTS n`` adds messages whose UIDs the client then FETCHes, ``FETCH``
updates flags and, when it carries a UID, must name the message the client has at that sequence
number. Checked after every step (RFC 3501 §2.3.1, §7.4.1, RFC 4315):

- each session's view converges to the model (MSNs, UIDs, flags), and a full
  ``FETCH 1:* (UID FLAGS)`` agrees with it;
- UIDs are strictly increasing and never reused (APPENDUID, COPYUID, deliveries);
- UIDVALIDITY never changes and UIDNEXT stays above every UID given out.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mailbox_store.models import Delivered, Delivery
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import message
from tests.protocol.test_imap_hostile import RawImap

FLAGS = ("\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "\\Draft", "$Label1")
DOCTOR = {"rpps": "10001234567"}
_FETCH = re.compile(rb"^\* (\d+) FETCH \((.*)\)\r\n$", re.S)
_NUMBER = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE)\r\n$")
_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")

flag_sets = st.frozensets(st.sampled_from(FLAGS), max_size=3)
sessions = st.sampled_from([0, 1])
picks = st.lists(st.integers(0, 10_000), min_size=1, max_size=3)


def flags_of(text: bytes) -> frozenset[str]:
    return frozenset(f for f in text.decode().split() if f != "\\Recent")


def uid_set(uids: list[int]) -> str:
    return ",".join(str(u) for u in uids)


@dataclass
class View:
    """What one client knows: (uid or None until fetched, flags) per sequence number."""

    uids: list[int | None] = field(default_factory=list)
    flags: list[frozenset[str]] = field(default_factory=list)


class Client:
    def __init__(self, running: RunningOperator, folder: str) -> None:
        self.imap = RawImap(running).login(**DOCTOR)
        self.folder = folder
        self.view = View()
        self.uidvalidity = 0
        self.uidnext = 0

    def select(self) -> None:
        untagged = self.imap.ok(f"SELECT {self.folder}")
        self.view = View()
        for line in untagged:
            if found := re.search(rb"\[UIDVALIDITY (\d+)\]", line):
                self.uidvalidity = int(found.group(1))
            if found := re.search(rb"\[UIDNEXT (\d+)\]", line):
                self.uidnext = int(found.group(1))
        self.absorb(untagged)

    def run(self, text: str | bytes, *, want: bytes = b"OK") -> bytes:
        """Run a command, apply its untagged responses to the view, return the tagged line."""
        untagged, tagged = self.imap.command(text)
        self.absorb(untagged)
        assert tagged.split(b" ", 2)[1] == want, (text, tagged)
        return tagged

    def absorb(self, untagged: list[bytes]) -> None:
        view = self.view
        for line in untagged:
            if found := _NUMBER.match(line):
                number, kind = int(found.group(1)), found.group(2)
                if kind == b"EXPUNGE":
                    assert 1 <= number <= len(view.uids), (line, len(view.uids))
                    del view.uids[number - 1]
                    del view.flags[number - 1]
                else:
                    assert number >= len(view.uids), f"EXISTS went down: {line!r}"
                    view.uids.extend([None] * (number - len(view.uids)))
                    view.flags.extend([frozenset()] * (number - len(view.flags)))
            elif found := _FETCH.match(line):
                number, items = int(found.group(1)), found.group(2)
                assert 1 <= number <= len(view.uids), (line, len(view.uids))
                if uid := _UID.search(items):
                    known = view.uids[number - 1]
                    assert known in (None, int(uid.group(1))), f"MSN {number} is {known}: {line!r}"
                    view.uids[number - 1] = int(uid.group(1))
                if flags := _FLAGS.search(items):
                    view.flags[number - 1] = flags_of(flags.group(1))
        missing = [n for n, uid in enumerate(view.uids, 1) if uid is None]
        if missing:  # what a client does after EXISTS: learn the new messages' UIDs
            self.run(f"FETCH {missing[0]}:{missing[-1]} (UID FLAGS)")

    def full_fetch(self) -> list[tuple[int, frozenset[str]]]:
        untagged = self.imap.ok("FETCH 1:* (UID FLAGS)") if self.view.uids else []
        rows: list[tuple[int, int, frozenset[str]]] = []
        for line in untagged:
            if found := _FETCH.match(line):
                uid, flags = _UID.search(found.group(2)), _FLAGS.search(found.group(2))
                assert uid is not None, line
                assert flags is not None, line
                rows.append((int(found.group(1)), int(uid.group(1)), flags_of(flags.group(1))))
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), rows
        return [(uid, flags) for _, uid, flags in rows]

    def state(self) -> list[tuple[int | None, frozenset[str]]]:
        return list(zip(self.view.uids, self.view.flags, strict=True))


class MailboxMachine(RuleBasedStateMachine):
    running: RunningOperator  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.folder = f"S{uuid.uuid4().hex[:8]}"
        self.elsewhere = f"{self.folder}-out"
        self.account = self.running.account("PER", **DOCTOR)["address"]
        self.model: list[tuple[int, frozenset[str]]] = []
        self.max_uid = 0
        setup = RawImap(self.running).login(**DOCTOR)
        setup.ok(f"CREATE {self.folder}")
        setup.ok(f"CREATE {self.elsewhere}")
        setup.close()
        self.clients = [Client(self.running, self.folder) for _ in range(2)]
        for client in self.clients:
            client.select()
        self.uidvalidity = self.clients[0].uidvalidity
        assert self.uidvalidity > 0

    def teardown(self) -> None:
        for client in self.clients:
            client.imap.close()

    # -- helpers -------------------------------------------------------------------------

    def new_uid(self, uid: int) -> None:
        assert uid > self.max_uid, f"UID {uid} not above {self.max_uid}: reused or decreasing"
        self.max_uid = uid

    def pick(self, numbers: list[int]) -> list[int]:
        """Sequence numbers (1-based, distinct, sorted) chosen from the model."""
        return sorted({n % len(self.model) + 1 for n in numbers})

    def expunge_model(self, uids: set[int] | None = None) -> None:
        self.model = [
            (uid, flags)
            for uid, flags in self.model
            if "\\Deleted" not in flags or (uids is not None and uid not in uids)
        ]

    # -- rules ---------------------------------------------------------------------------

    @rule(who=sessions, flags=flag_sets)
    def append(self, who: int, flags: frozenset[str]) -> None:
        body = message("a@example.org", self.account, subject=f"A{self.max_uid}")
        flag_list = " ".join(sorted(flags))
        tagged = self.clients[who].run(
            f"APPEND {self.folder} ({flag_list}) {{{len(body)}+}}\r\n".encode() + body
        )
        found = re.search(rb"\[APPENDUID (\d+) (\d+)\]", tagged)
        assert found is not None, tagged
        assert int(found.group(1)) == self.uidvalidity
        self.new_uid(int(found.group(2)))
        self.model.append((int(found.group(2)), flags))

    @rule()
    def deliver_through_store(self) -> None:
        async def deliver() -> int:
            body = message("a@example.org", self.account, subject="Livre")
            store = self.running.operator.store
            [result] = await store.deliver(body, [Delivery(self.account, self.folder)])
            assert isinstance(result, Delivered), result
            assert result.uidvalidity == self.uidvalidity
            return result.uid

        uid = self.running.call(deliver())
        self.new_uid(uid)
        self.model.append((uid, frozenset()))

    @precondition(lambda self: self.model)
    @rule(
        who=sessions,
        numbers=picks,
        mode=st.sampled_from(["+", "-", ""]),
        flags=flag_sets,
        silent=st.booleans(),
        by_uid=st.booleans(),
    )
    def store(
        self,
        who: int,
        numbers: list[int],
        mode: str,
        flags: frozenset[str],
        silent: bool,
        by_uid: bool,
    ) -> None:
        chosen = self.pick(numbers)
        uids = {self.model[n - 1][0] for n in chosen}
        target = uid_set(sorted(uids)) if by_uid else uid_set(chosen)
        verb = "UID STORE" if by_uid else "STORE"
        silent_suffix = ".SILENT" if silent else ""
        client = self.clients[who]
        client.run(f"{verb} {target} {mode}FLAGS{silent_suffix} ({' '.join(sorted(flags))})")
        for index, (uid, old) in enumerate(self.model):
            if uid in uids:
                new = old | flags if mode == "+" else old - flags if mode == "-" else flags
                self.model[index] = (uid, new)
                if silent:  # the client knows what it asked for (RFC 3501 §6.4.6)
                    client.view.flags[client.view.uids.index(uid)] = new

    @precondition(lambda self: self.model)
    @rule(who=sessions, numbers=picks, by_uid=st.booleans())
    def copy_into_same_mailbox(self, who: int, numbers: list[int], by_uid: bool) -> None:
        chosen = self.pick(numbers)
        sources = [self.model[n - 1] for n in chosen]
        target = uid_set([u for u, _ in sources]) if by_uid else uid_set(chosen)
        verb = "UID COPY" if by_uid else "COPY"
        tagged = self.clients[who].run(f"{verb} {target} {self.folder}")
        found = re.search(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", tagged)
        assert found is not None, tagged
        assert int(found.group(1)) == self.uidvalidity
        new_uids = expand(found.group(3))
        assert expand(found.group(2)) == [u for u, _ in sources]
        for (_, flags), uid in zip(sources, new_uids, strict=True):
            self.new_uid(uid)
            self.model.append((uid, flags))

    @precondition(lambda self: self.model)
    @rule(who=sessions, numbers=picks, by_uid=st.booleans())
    def move_out(self, who: int, numbers: list[int], by_uid: bool) -> None:
        chosen = self.pick(numbers)
        uids = {self.model[n - 1][0] for n in chosen}
        target = uid_set(sorted(uids)) if by_uid else uid_set(chosen)
        verb = "UID MOVE" if by_uid else "MOVE"
        self.clients[who].run(f"{verb} {target} {self.elsewhere}")
        self.model = [(uid, flags) for uid, flags in self.model if uid not in uids]

    @rule(who=sessions)
    def expunge(self, who: int) -> None:
        self.clients[who].run("EXPUNGE")
        self.expunge_model()

    @precondition(lambda self: self.model)
    @rule(who=sessions, numbers=picks)
    def uid_expunge(self, who: int, numbers: list[int]) -> None:
        uids = {self.model[n - 1][0] for n in self.pick(numbers)}
        self.clients[who].run(f"UID EXPUNGE {uid_set(sorted(uids))}")
        self.expunge_model(uids)

    @precondition(lambda self: self.model)
    @rule(who=sessions, numbers=picks)
    def fetch_body_sets_seen(self, who: int, numbers: list[int]) -> None:
        chosen = self.pick(numbers)
        self.clients[who].run(f"FETCH {uid_set(chosen)} (BODY[HEADER.FIELDS (SUBJECT)])")
        for n in chosen:  # RFC 3501 §6.4.5: BODY[...] (not PEEK) sets \Seen
            uid, flags = self.model[n - 1]
            self.model[n - 1] = (uid, flags | {"\\Seen"})

    @rule(who=sessions, flag=st.sampled_from(FLAGS), negate=st.booleans(), by_uid=st.booleans())
    def search_by_flag(self, who: int, flag: str, negate: bool, by_uid: bool) -> None:
        key = f"KEYWORD {flag}" if flag.startswith("$") else flag[1:].upper()
        if negate:
            key = f"UN{key}" if not flag.startswith("$") else f"NOT {key}"
        untagged, tagged = self.clients[who].imap.command(f"{'UID ' if by_uid else ''}SEARCH {key}")
        assert tagged.split(b" ", 2)[1] == b"OK", tagged
        [found] = [line for line in untagged if line.startswith(b"* SEARCH")]
        self.clients[who].absorb([line for line in untagged if line is not found])
        expected = [
            uid if by_uid else number
            for number, (uid, flags) in enumerate(self.model, 1)
            if (flag in flags) != negate
        ]
        assert sorted(int(n) for n in found.split()[2:]) == expected, (key, found)

    @rule(who=sessions)
    def reselect(self, who: int) -> None:
        client = self.clients[who]
        client.select()
        assert client.uidvalidity == self.uidvalidity
        assert client.uidnext > self.max_uid

    @rule(who=sessions)
    def noop(self, who: int) -> None:
        self.clients[who].run("NOOP")

    # -- the invariant -------------------------------------------------------------------

    @invariant()
    def views_agree_with_the_model(self) -> None:
        if not hasattr(self, "clients"):
            return
        for client in self.clients:
            deadline = time.monotonic() + 3
            while client.state() != self.model and time.monotonic() < deadline:
                client.run("NOOP")  # another session's change may still be on its way
                if client.state() != self.model:
                    time.sleep(0.02)
            assert client.state() == self.model, (client.state(), self.model)
            assert client.full_fetch() == self.model


def expand(text: bytes) -> list[int]:
    out: list[int] = []
    for part in text.decode().split(","):
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return out


@pytest.mark.slow
def test_two_sessions_never_diverge_from_the_model(running: RunningOperator) -> None:
    MailboxMachine.running = running
    run_state_machine_as_test(
        MailboxMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
