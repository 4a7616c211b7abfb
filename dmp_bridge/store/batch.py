"""Filings decided in memory before anything is written (DMP-DOC-1, DMP-AUD-1); no I/O.

The SQL store reads the records and the documents a batch of filings refers to (their uniqueIds
and the uniqueIds they replace), lets a ``Batch`` decide each filing in order against that view —
a later filing sees the earlier ones: a duplicate within the batch, a replacement of a document
filed just before — with the rules of ``rules``, then writes what was decided in a few statements
(``rows``). ``attempt`` files one submission all or nothing: a refusal puts the batch back as it
was before it, so that submissions sharing a transaction never affect one another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store import rules
from dmp_bridge.store.access_models import AuditEntry
from dmp_bridge.store.interfaces import Audit, Sealer
from dmp_bridge.store.models import DocumentStatus, Filing, FilingResult, StoredDocument


def references(filings: Sequence[Filing]) -> set[str]:
    """The uniqueIds a batch must know: its own and those it replaces."""
    ids = {filing.document.unique_id for filing in filings}
    ids.update(f.document.replaces_unique_id for f in filings if f.document.replaces_unique_id)
    return ids


@dataclass
class Batch:
    """What a transaction will write: new documents and contents, status changes, audit rows."""

    records: set[str]  # INS that have a record
    view: dict[str, StoredDocument]  # by uniqueId: as read, then as decided
    sealer: Sealer
    clock: Callable[[], datetime]
    documents: list[StoredDocument] = field(default_factory=list)  # to insert, in order
    contents: dict[str, bytes] = field(default_factory=dict)  # content key -> sealed
    statuses: dict[UUID, DocumentStatus] = field(default_factory=dict)  # rows to update
    audit: list[AuditEntry] = field(default_factory=list)

    def attempt(self, filings: Sequence[Filing], audit: Audit | None) -> tuple[FilingResult, ...]:
        """Decide ``filings`` in order, each with its audit entry; all or nothing."""
        saved = (dict(self.view), len(self.documents), dict(self.contents), dict(self.statuses))
        audited = len(self.audit)
        try:
            return tuple(self._file(filing, audit) for filing in filings)
        except BaseException:
            self.view, self.contents, self.statuses = saved[0], saved[2], saved[3]
            del self.documents[saved[1] :]
            del self.audit[audited:]
            raise

    def _file(self, filing: Filing, audit: Audit | None) -> FilingResult:
        result = self._decide(filing)
        if audit is not None:  # DMP-AUD-1: written with the document, in its transaction
            self.audit.append(audit(result))
        return result

    def _decide(self, filing: Filing) -> FilingResult:
        document = filing.document
        if document.patient_ins not in self.records:  # DMP-MDN-1: 902
            raise DocumentError("the patient has no record", code=MdnCode.UNKNOWN_PATIENT)
        existing = self.view.get(document.unique_id)
        if existing is not None:  # DMP-DOC-1: de-duplication on uniqueId
            rules.check_duplicate(existing, document)
            return FilingResult(existing, duplicate=True)
        replaced = document.replaces_unique_id
        parent = None if replaced is None else self.view.get(replaced)
        if parent is not None:  # (chosen) a parent not in this store: nothing to deprecate
            rules.check_replacement(parent, document)
        stored = rules.make_document(
            document,
            filing.content,
            entry_id=uuid4(),
            now=self.clock(),
            replaces=parent.entry_id if parent else None,
            sha1=filing.sha1,
        )
        if stored.content_key not in self.contents:
            self.contents[stored.content_key] = self.sealer.seal(stored.content_key, filing.content)
        deprecated = None
        if parent is not None:  # DMP-DOC-1: the replacement deprecates its parent
            deprecated = rules.with_status(parent, DocumentStatus.DEPRECATED)
            self.view[parent.unique_id] = deprecated
            self.statuses[parent.entry_id] = DocumentStatus.DEPRECATED
        self.view[stored.unique_id] = stored
        self.documents.append(stored)
        return FilingResult(stored, duplicate=False, deprecated=deprecated)
