"""``DmpAccess``: every access to a record goes through here — decided, traced, notified.

Each call gathers the facts from the store, asks ``rules.decide``, appends the trace (DMP-AUD-1)
with the notifications it implies in one store transaction, and only then acts (or refuses).
Time is an argument (``now``, aware): no clock inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from dmp_bridge.access.actors import Actor, Patient, Professional
from dmp_bridge.access.matrix import Matrix, default_matrix
from dmp_bridge.access.notifications import emergency_notifications, first_access, new_document
from dmp_bridge.access.rules import AccessRequest, Decision, Facts, decide
from dmp_bridge.store.access_models import (
    MAX_JUSTIFICATION,
    AccessMode,
    Action,
    ActorKind,
    AuditEntry,
    NewTrace,
    Reason,
    Trace,
)
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.models import Filing, FilingResult, StoredDocument


@dataclass(frozen=True, slots=True)
class DocumentAccess:
    """The decision on one document, and the document when allowed."""

    decision: Decision
    document: StoredDocument | None


@dataclass(frozen=True, slots=True)
class RecordListing:
    """The decision on listing a record, and the documents the actor may see in it."""

    decision: Decision
    documents: tuple[StoredDocument, ...]


class DmpAccess:
    """The access rules of the embedded DMP over a ``DmpStore`` (DMP-ACL-1..3, DMP-AUD-1)."""

    def __init__(self, store: DmpStore, matrix: Matrix | None = None) -> None:
        self._store = store
        self._matrix = matrix or default_matrix()

    async def check(self, request: AccessRequest, now: datetime) -> Decision:
        """Decide ``request`` and trace the answer (with its notifications)."""
        facts = await self._facts(request, now)
        decision = decide(request, facts, self._matrix)
        await self._trace(request, decision, facts, now)
        return decision

    async def read_document(
        self,
        actor: Actor,
        entry_id: UUID,
        now: datetime,
        *,
        mode: AccessMode = AccessMode.NORMAL,
        justification: str | None = None,
    ) -> DocumentAccess:
        """READ one document (``UnknownDocument`` if none); the document only when allowed."""
        document = await self._store.get(entry_id)
        request = AccessRequest(
            actor, Action.READ, document.patient_ins, document, mode, justification
        )
        decision = await self.check(request, now)
        return DocumentAccess(decision, document if decision.allowed else None)

    async def list_documents(
        self,
        actor: Actor,
        ins: str,
        now: datetime,
        *,
        mode: AccessMode = AccessMode.NORMAL,
        justification: str | None = None,
    ) -> RecordListing:
        """LIST the record (one trace): the current documents this actor may read."""
        request = AccessRequest(actor, Action.LIST, ins, None, mode, justification)
        decision = await self.check(request, now)
        if not decision.allowed:
            return RecordListing(decision, ())
        settings = await self._store.patient_settings(ins)
        flags = await self._store.record_flags(ins)
        visible = []
        for document in await self._store.list_documents(ins):
            one = AccessRequest(actor, Action.READ, ins, document, mode, justification)
            facts = Facts(settings, now, flags.get(document.entry_id))
            if decide(one, facts, self._matrix).allowed:
                visible.append(document)
        return RecordListing(decision, tuple(visible))

    async def file_documents(
        self, filings: Sequence[Filing], now: datetime, actor: Actor | None = None
    ) -> tuple[FilingResult, ...]:
        """File ``filings`` with ``DmpStore.file_all`` (one transaction, all or none), each with
        the trace and notification ``record_new_document`` would add: DMP-AUD-1, and never a
        document without its trace."""
        return await self._store.file_all(filings, lambda result: filing_audit(result, now, actor))

    async def record_new_document(
        self, result: FilingResult, now: datetime, actor: Actor | None = None
    ) -> Trace:
        """DMP-AUD-1: trace a filing done with ``DmpStore.file`` (``filing_audit``), in a
        transaction of its own (``file_documents`` does both in one)."""
        entry = filing_audit(result, now, actor)
        return await self._store.record_access(entry.trace, entry.notifications)

    async def traces_for(
        self, actor: Actor, ins: str, now: datetime
    ) -> tuple[Decision, list[Trace]]:
        """DMP-AUD-1: the patient (or a representative) reads the record's traces."""
        decision = await self.check(AccessRequest(actor, Action.READ_TRACES, ins), now)
        return decision, (await self._store.traces(ins) if decision.allowed else [])

    # --- the patient's choices (DMP-ACL-3) ----------------------------------------------------

    async def set_masked(
        self, actor: Actor, entry_id: UUID, masked: bool, now: datetime
    ) -> Decision:
        document = await self._store.get(entry_id)
        action = Action.MASK if masked else Action.UNMASK
        decision = await self.check(
            AccessRequest(actor, action, document.patient_ins, document), now
        )
        if decision.allowed:
            await self._store.set_masked_by_patient(entry_id, masked)
        return decision

    async def announce(self, actor: Actor, entry_id: UUID, now: datetime) -> Decision:
        """DMP-ACL-2: the announcement consultation of an ``INVISIBLE_PATIENT`` document."""
        document = await self._store.get(entry_id)
        request = AccessRequest(actor, Action.ANNOUNCE, document.patient_ins, document)
        decision = await self.check(request, now)
        if decision.allowed:
            await self._store.mark_announced(entry_id, now)
        return decision

    async def set_blocked(
        self, actor: Actor, ins: str, rpps: str, blocked: bool, now: datetime
    ) -> Decision:
        decision = await self.check(AccessRequest(actor, Action.MANAGE, ins), now)
        if decision.allowed:
            await self._store.set_blocked(ins, rpps, blocked)
        return decision

    async def set_emergency_opposition(
        self, actor: Actor, ins: str, opposed: bool, now: datetime
    ) -> Decision:
        decision = await self.check(AccessRequest(actor, Action.MANAGE, ins), now)
        if decision.allowed:
            await self._store.set_emergency_opposition(ins, opposed)
        return decision

    async def set_medecin_traitant(
        self, actor: Actor, ins: str, rpps: str | None, now: datetime
    ) -> Decision:
        decision = await self.check(AccessRequest(actor, Action.MANAGE, ins), now)
        if decision.allowed:
            await self._store.set_medecin_traitant(ins, rpps)
        return decision

    async def set_legal_representative(
        self, actor: Actor, ins: str, representative: str, present: bool, now: datetime
    ) -> Decision:
        decision = await self.check(AccessRequest(actor, Action.MANAGE, ins), now)
        if decision.allowed:
            await self._store.set_legal_representative(ins, representative, present)
        return decision

    # --- inside -------------------------------------------------------------------------------

    async def _facts(self, request: AccessRequest, now: datetime) -> Facts:
        settings = await self._store.patient_settings(request.ins)
        document = request.document
        flags = None if document is None else await self._store.document_flags(document.entry_id)
        return Facts(settings, now, flags)

    async def _trace(
        self, request: AccessRequest, decision: Decision, facts: Facts, now: datetime
    ) -> Trace:
        trace = _new_trace(request, now, decision)
        if not decision.allowed or request.actor.kind not in _PROFESSIONALS:
            return await self._store.record_access(trace)
        notifications = emergency_notifications(request, facts.settings, now)
        return await self._store.record_access(trace, notifications, first_access(request, now))


_PROFESSIONALS = frozenset({ActorKind.PROFESSIONAL, ActorKind.REGULATOR})


def filing_audit(result: FilingResult, now: datetime, actor: Actor | None = None) -> AuditEntry:
    """DMP-AUD-1: the trace of a filing (by ``actor``, else the document's author as a
    professional) and, unless it was a duplicate or the patient filed it, the patient's
    notification of the new document (after 2 weeks for ``INVISIBLE_PATIENT``, DMP-ACL-2)."""
    document = result.document
    who = actor or Professional(document.author_id, "", organisation=document.author_org)
    action = Action.REPLACE if result.deprecated is not None else Action.FILE
    trace = _new_trace(AccessRequest(who, action, document.patient_ins, document), now)
    told = () if result.duplicate or isinstance(who, Patient) else (new_document(document, now),)
    return AuditEntry(trace, told)


def _new_trace(request: AccessRequest, now: datetime, decision: Decision | None = None) -> NewTrace:
    actor = request.actor
    justification = (request.justification or "").strip()[:MAX_JUSTIFICATION] or None
    return NewTrace(
        ins=request.ins,
        at=now,
        actor_kind=actor.kind,
        actor_id=actor.actor_id,
        action=request.action,
        mode=request.mode,
        allowed=decision.allowed if decision else True,
        reason=decision.reason if decision else Reason.GRANTED,
        entry_id=None if request.document is None else request.document.entry_id,
        profession=(actor.profession or None) if isinstance(actor, Professional) else None,
        justification=justification,
    )
