"""File the documents of a message into the patient's record (issue 5, item 5; "envoi en Y").

``DocumentFiler.file_message`` takes a stored message and the INS of the patient it was delivered
to. It finds the ``IHE_XDM.ZIP`` attachments, reads them with the hardened readers (SEC-IN-1/2),
checks every document before filing any: one patient for the whole message (MSS-MSG-4), the INS
of the metadata and of the CDA equal to the recipient's (DMP-MDN-1: 903, 904, 905), then files them
(DMP-DOC-1: de-duplication on uniqueId, RPLC with 900/901 in the store). The outcome is
``processed`` or the DMP-MDN-1 code of the refusal. Parsing runs in a worker thread so that
the event loop keeps serving meanwhile.

With a ``DmpAccess``, the message's documents, their traces and the patient's notifications are
filed in ONE store transaction (``DmpAccess.file_documents``, DMP-AUD-1: no document without its
trace; one fsync for the lot). *(chosen)* A message is filed all or nothing: when the store
refuses one of its documents (900, 901, 902, 904) none is filed, and the MDN tells why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dmp_bridge.access import DmpAccess
from dmp_bridge.cda import parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.errors import MDN_LABELS, DocumentError, MdnCode
from dmp_bridge.patient_match import archive_patient, check_document
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.models import Filing, FilingResult, NewDocument, StoredDocument
from dmp_bridge.xdm import XdmDocument, read_xdm
from dmp_bridge.zipsafe import ZipLimits
from mss.dmp.attachments import message_id, xdm_archives
from mss.wire.mdn import Disposition

log = logging.getLogger(__name__)
PROCESSED = "processed"

# Told of each filing once committed, duplicates included (the trace is not theirs to write).
DocumentFiled = Callable[[FilingResult], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FilingOutcome:
    """What became of a message's documents: filed (``code`` None) or refused with ``code``."""

    code: MdnCode | None = None
    filed: tuple[StoredDocument, ...] = ()
    duplicates: int = 0

    @property
    def result(self) -> str:
        """``processed`` or the DMP-MDN-1 code, as kept on the job row."""
        return PROCESSED if self.code is None else str(int(self.code))

    @property
    def disposition(self) -> Disposition:
        """DMP-MDN-1: ``processed`` or ``processed/Error: <code>^<label>``."""
        if self.code is None:
            return Disposition()
        return Disposition(int(self.code), MDN_LABELS[self.code])


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message read and checked, not filed yet (``DocumentFiler.prepare``): its documents, or
    the refusal met while reading them; ``carries_xdm`` False when it has no XDM archive."""

    recipient_ins: str
    filings: tuple[Filing, ...] = ()
    carries_xdm: bool = True
    refused: DocumentError | None = None


class DocumentFiler:
    def __init__(
        self,
        store: DmpStore,
        *,
        max_xdm_size: int,
        access: DmpAccess | None = None,
        on_filed: Sequence[DocumentFiled] = (),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        """``access``: trace each filing with it, in the filing's transaction (DMP-AUD-1; the
        operator always gives one); ``on_filed``: told after the commit."""
        self._store = store
        self._access = access
        self._clock = clock
        self._limits = ZipLimits(max_zip_bytes=max_xdm_size)
        self._max = max_xdm_size
        self._on_filed = tuple(on_filed)
        self._records: set[str] = set()  # INS whose record is known to exist (ensured once)

    async def file_message(self, message: bytes, recipient_ins: str) -> FilingOutcome | None:
        """The outcome of filing ``message``'s documents; None when it carries no XDM archive.

        A ``DocumentError`` becomes a refused outcome; any other error (storage) propagates so
        that the job is tried again.
        """
        return await self.commit(await self.prepare(message, recipient_ins))

    async def prepare(self, message: bytes, recipient_ins: str) -> Prepared:
        """``message`` read and checked (in a worker thread), ready for ``commit``: the first
        half of ``file_message``, which a worker may run for the next job meanwhile."""
        try:
            filings = await asyncio.to_thread(self._prepare, message, recipient_ins)
        except DocumentError as error:
            return Prepared(recipient_ins, refused=error)
        return Prepared(recipient_ins, tuple(filings or ()), carries_xdm=filings is not None)

    async def commit(self, prepared: Prepared) -> FilingOutcome | None:
        """File what ``prepare`` read: the second half of ``file_message``."""
        try:
            if prepared.refused is not None:
                raise prepared.refused
            if not prepared.carries_xdm:
                return None
            ins = prepared.recipient_ins
            if ins not in self._records:  # a record exists for every open profile
                await self._store.ensure_record(ins)
                self._records.add(ins)
            results = await self._file(list(prepared.filings))
        except DocumentError as error:
            log.info("dmp filing refused code=%d kind=%s", error.code, type(error).__name__)
            return FilingOutcome(code=error.code)
        await self._tell(results)
        return FilingOutcome(
            filed=tuple(r.document for r in results if not r.duplicate),
            duplicates=sum(1 for r in results if r.duplicate),  # DMP-DOC-1: sent twice, once
        )

    def _prepare(self, message: bytes, recipient_ins: str) -> list[Filing] | None:
        archives = xdm_archives(message, self._max)
        if not archives:
            return None
        source = message_id(message)
        read = [read_xdm(data, self._limits) for data in archives]
        if len({archive_patient(archive) for archive in read}) != 1:  # MSS-MSG-4
            raise DocumentError("the message concerns several patients", code=MdnCode.INS_MISMATCH)
        return [
            _prepared(document, recipient_ins, source)
            for archive in read
            for document in archive.documents
        ]

    async def _file(self, filings: list[Filing]) -> tuple[FilingResult, ...]:
        if self._access is not None:  # DMP-AUD-1: documents and traces in one transaction
            return await self._access.file_documents(filings, self._clock())
        return await self._store.file_all(filings)

    async def _tell(self, results: Sequence[FilingResult]) -> None:
        for result in results:
            for listener in self._on_filed:
                try:
                    await listener(result)
                except Exception as error:  # a trace or notice failing never unfiles it
                    log.error("dmp filed-document listener failed error=%s", type(error).__name__)


def _prepared(document: XdmDocument, recipient_ins: str, source: str | None) -> Filing:
    content = document.content
    header = parse_cda(content)
    check_document(document, header, recipient_ins)  # DMP-MDN-1: 903/904/905
    new = NewDocument.from_cda(
        header,
        classify(header.type.code),
        confidentiality=document.confidentiality or None,
        source_message_id=source,
    )
    return Filing(new, content, sha1=document.hash)  # computed by read_xdm from the bytes
