"""The decisions of DMP-DOC-1, shared by every store: pure functions on values.

De-duplication, who may replace or delete (the author or the author's organisation, else 901),
which version may be replaced (only the latest, approved one, else 900), and the content checks.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.errors import CorruptContent
from dmp_bridge.store.models import DocumentStatus, NewDocument, StoredDocument


def content_key(content: bytes) -> str:
    """The key of a content in ``dmp_contents``: SHA-256 hex of the plaintext."""
    return hashlib.sha256(content).hexdigest()


def check_duplicate(existing: StoredDocument, new: NewDocument) -> None:
    """DMP-DOC-1: the same uniqueId is the same document, but only within one patient's record."""
    if existing.patient_ins != new.patient_ins:
        raise DocumentError(
            "this document id is already filed for another patient", code=MdnCode.INS_MISMATCH
        )


def check_actor(document: StoredDocument, author: str, org: str | None) -> None:
    """DMP-DOC-1: only the author, or the author's organisation, may replace or delete (901)."""
    same_author = bool(author) and author == document.author_id
    same_org = org is not None and org == document.author_org
    if not (same_author or same_org):
        raise DocumentError(
            "only the author may replace or delete a document", code=MdnCode.NOT_AUTHOR
        )


def check_replacement(parent: StoredDocument, new: NewDocument) -> None:
    """DMP-DOC-1: a replacement is by the parent's author (901), of its latest version (900)."""
    if parent.patient_ins != new.patient_ins:
        raise DocumentError(
            "the replaced document belongs to another patient", code=MdnCode.INS_MISMATCH
        )
    check_actor(parent, new.author_id, new.author_org)
    if parent.status is not DocumentStatus.APPROVED:
        raise DocumentError(
            "the replaced document is not the latest version", code=MdnCode.NOT_LATEST_VERSION
        )


def check_deletion(document: StoredDocument, author: str, org: str | None) -> bool:
    """DMP-DOC-1: whether to delete ``document`` (False when already deleted); 901 or 900."""
    check_actor(document, author, org)
    if document.status is DocumentStatus.DELETED:
        return False
    if document.status is DocumentStatus.DEPRECATED:
        raise DocumentError("a replaced version cannot be deleted", code=MdnCode.NOT_LATEST_VERSION)
    return True


def make_document(
    new: NewDocument,
    content: bytes,
    *,
    entry_id: UUID,
    now: datetime,
    replaces: UUID | None,
    sha1: str | None = None,
) -> StoredDocument:
    """The stored version of ``new``: hash and size computed from ``content`` (DMP-DOC-1);
    ``sha1``: its SHA-1 when the caller computed it already (``Filing.sha1``)."""
    return StoredDocument(
        entry_id=entry_id,
        unique_id=new.unique_id,
        set_id=new.set_id,
        version=new.version,
        status=DocumentStatus.APPROVED,
        patient_ins=new.patient_ins,
        type_code=new.type_code,
        class_code=new.class_code,
        rubric=new.rubric,
        confidentiality=new.confidentiality,
        author_id=new.author_id,
        author_org=new.author_org,
        creation_time=new.creation_time,
        submission_time=now,
        sha1=sha1 or hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        size=len(content),
        mime_type=new.mime_type,
        title=new.title,
        source_message_id=new.source_message_id,
        replaces=replaces,
        replaces_unique_id=new.replaces_unique_id,
        content_key=content_key(content),
    )


def with_status(document: StoredDocument, status: DocumentStatus) -> StoredDocument:
    return replace(document, status=status)


def check_content(document: StoredDocument, content: bytes) -> bytes:
    """The content if its size, SHA-1 and SHA-256 are still those filed, else ``CorruptContent``."""
    sha1 = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    if (
        len(content) != document.size
        or sha1 != document.sha1
        or content_key(content) != document.content_key
    ):
        raise CorruptContent("a stored DMP document no longer matches its hash")
    return content
