"""What the ``mss xdm`` and ``mss dmp`` commands print: one dict per document, archive entry or
trace, rendered as JSON (``--json``, for scripts) or as tab-separated lines. Pure; no content
(no document body, no subject) is ever printed, only metadata (SEC-IN-3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from dmp_bridge.cda import parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.errors import DocumentError
from dmp_bridge.store.access_models import Trace
from dmp_bridge.store.models import StoredDocument
from dmp_bridge.xdm import XdmArchive, XdmDocument

Row = dict[str, Any]
LIST_COLUMNS = ("ins", "type_code", "class_code", "rubric", "unique_id", "status")
DOCUMENT_COLUMNS = (*LIST_COLUMNS, "confidentiality", "entry_id")
ENTRY_COLUMNS = ("subset", "ins", "type_code", "class_code", "rubric", "unique_id", "cda")
TRACE_COLUMNS = ("at", "actor_kind", "actor_id", "action", "mode", "allowed", "reason", "entry_id")


def document_row(document: StoredDocument, *, detailed: bool = False) -> Row:
    row: Row = {
        "ins": document.patient_ins,
        "type_code": document.type_code,
        "class_code": document.class_code,
        "rubric": document.rubric,
        "unique_id": document.unique_id,
        "status": document.status.value,
        "confidentiality": list(document.confidentiality),
        "entry_id": str(document.entry_id),
    }
    if detailed:
        row |= {
            "set_id": document.set_id,
            "version": document.version,
            "title": document.title,
            "author_id": document.author_id,
            "author_org": document.author_org,
            "creation_time": _iso(document.creation_time),
            "submission_time": _iso(document.submission_time),
            "sha1": document.sha1,
            "size": document.size,
            "mime_type": document.mime_type,
            "replaces": str(document.replaces) if document.replaces else None,
            "source_message_id": document.source_message_id,
        }
    return row


def archive_rows(archive: XdmArchive) -> list[Row]:
    """One row per document entry of an XDM archive, its CDA checked against its metadata."""
    return [
        _entry_row(subset.folder, entry)
        for subset in archive.submission_sets
        for entry in subset.documents
    ]


def _entry_row(folder: str, entry: XdmDocument) -> Row:
    type_code = entry.type_code or ""
    kind = classify(type_code)
    try:
        header = parse_cda(entry.content)
        cda = "ok" if header.patient_ins == entry.patient_ins else "INS differs from metadata"
    except DocumentError as error:
        cda = f"refused ({int(error.code)}): {error}"
    return {
        "subset": folder,
        "ins": entry.patient_ins,
        "type_code": entry.type_code,
        "class_code": entry.class_code or kind.class_code,
        "rubric": kind.rubric,
        "unique_id": entry.unique_id,
        "confidentiality": list(entry.confidentiality),
        "size": entry.size,
        "sha1": entry.hash,
        "uri": entry.uri,
        "cda": cda,
    }


def trace_row(trace: Trace) -> Row:
    return {
        "id": trace.id,
        "ins": trace.ins,
        "at": _iso(trace.at),
        "actor_kind": _value(trace.actor_kind),
        "actor_id": trace.actor_id,
        "action": _value(trace.action),
        "mode": _value(trace.mode),
        "allowed": trace.allowed,
        "reason": _value(trace.reason),
        "entry_id": str(trace.entry_id) if trace.entry_id else None,
        "profession": trace.profession,
        "justification": trace.justification,
    }


def as_json(rows: Sequence[Row] | Row) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True)


def as_lines(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """A header line and one tab-separated line per row."""
    lines = ["\t".join(columns)]
    lines += ["\t".join(_cell(row.get(column)) for column in columns) for row in rows]
    return "\n".join(lines)


def as_fields(row: Mapping[str, Any]) -> str:
    width = max(len(key) for key in row)
    return "\n".join(f"{key.ljust(width)}  {_cell(value)}" for key, value in row.items())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "-"
    return " ".join(str(value).split())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    return value
