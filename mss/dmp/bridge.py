"""The operator's DMP bridge, assembled: the embedded DMP store, the filing jobs and worker, the
post-delivery hook, MDN sending and the patient's "Espace personnel" (issue 5, items 5-6).

``build_bridge`` is called by the composition root; contents are sealed with the same key ring
(AES-256-GCM bound to the content key) as message bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import DmpSettings
from dmp_bridge.access import DmpAccess, load_matrix
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.sql import SqlDmpStore
from mailbox_store.blobs import KeyRing, seal, unseal
from mailbox_store.interfaces import MailboxStore
from mss.dmp.filing import DocumentFiler
from mss.dmp.jobs import SqlFilingJobs
from mss.dmp.mdn import MdnSender, MdnTransport
from mss.dmp.personal import PersonalSpace
from mss.dmp.worker import FilingHook, FilingWorker, Patients


@dataclass(frozen=True)
class KeyRingSealer:
    """``dmp_bridge.store.interfaces.Sealer`` over the mailbox store's key ring."""

    keyring: KeyRing

    def seal(self, blob_id: str, data: bytes) -> bytes:
        return seal(self.keyring, blob_id, data)

    def open(self, blob_id: str, sealed: bytes) -> bytes:
        return unseal(self.keyring, blob_id, sealed)


@dataclass(frozen=True)
class DmpBridge:
    store: DmpStore
    access: DmpAccess
    jobs: SqlFilingJobs
    filer: DocumentFiler
    worker: FilingWorker
    hook: FilingHook
    personal: PersonalSpace


def build_bridge(
    *,
    engine: AsyncEngine,
    keyring: KeyRing,
    mailboxes: MailboxStore,
    patients: Patients,
    settings: DmpSettings,
    hostname: str,
    transport: MdnTransport,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DmpBridge:
    store = SqlDmpStore(engine, KeyRingSealer(keyring))
    matrix_file = settings.acl_matrix_file
    access = DmpAccess(store, load_matrix(matrix_file.read_text("utf-8")) if matrix_file else None)

    jobs = SqlFilingJobs(engine, lease=timedelta(seconds=settings.filing_lease))
    # DMP-AUD-1: each message's documents, traces and notifications in one transaction
    filer = DocumentFiler(store, max_xdm_size=settings.max_xdm_size, access=access, clock=clock)
    worker = FilingWorker(
        jobs=jobs,
        mailboxes=mailboxes,
        filer=filer,
        mdn=MdnSender(transport, hostname=hostname),
        poll_interval=settings.filing_poll_interval,
        # on SQLite too: the store queues its writers in-process (sql_write.WriteGate), so one
        # job parses (in a thread) while another commits
        concurrency=settings.filing_concurrency,
        max_attempts=settings.filing_max_attempts,
    )
    personal = PersonalSpace(
        dmp=store,
        mailboxes=mailboxes,
        patients=patients,
        max_size=settings.max_xdm_size,
        on_filed=access.record_new_document,
        clock=clock,
    )
    hook = FilingHook(jobs=jobs, patients=patients, worker=worker)
    return DmpBridge(store, access, jobs, filer, worker, hook, personal)
