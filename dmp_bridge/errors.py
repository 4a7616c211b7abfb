"""Errors of the DMP bridge: one hierarchy, each error carrying its DMP-MDN-1 result code.

``DocumentError`` says a document (or an archive of documents) cannot be filed; its ``code`` is the
code sent back in a ``processed/Error: <code>^<label>`` MDN (DMP-MDN-1). ``HostileInput`` is the
subclass for input refused as dangerous or malformed on purpose (SEC-IN-1, SEC-IN-2): zip bombs,
entity declarations, paths outside the archive and the like. Messages never quote document content.
"""

from __future__ import annotations

from enum import IntEnum


class MdnCode(IntEnum):
    """DMP-MDN-1: integration result codes."""

    NOT_LATEST_VERSION = 900
    NOT_AUTHOR = 901
    UNKNOWN_PATIENT = 902
    INS_MISSING = 903
    INS_MISMATCH = 904
    INS_INCOMPLETE = 905
    OTHER = 906


MDN_LABELS: dict[MdnCode, str] = {
    MdnCode.NOT_LATEST_VERSION: "Le document n'est pas la dernière version",
    MdnCode.NOT_AUTHOR: "Seul l'auteur peut remplacer ou supprimer le document",
    MdnCode.UNKNOWN_PATIENT: "Patient inconnu",
    MdnCode.INS_MISSING: "INS absent",
    MdnCode.INS_MISMATCH: "Traits INS incohérents",
    MdnCode.INS_INCOMPLETE: "INS incomplet",
    MdnCode.OTHER: "Autre erreur",
}


class DocumentError(Exception):
    """A document or archive that cannot be filed; ``code`` is its DMP-MDN-1 code."""

    temporary = False

    def __init__(self, message: str, *, code: MdnCode = MdnCode.OTHER) -> None:
        super().__init__(message)
        self.code = code

    @property
    def mdn_disposition(self) -> str:
        """DMP-MDN-1: the MDN disposition for this error, ``processed/Error: <code>^<label>``."""
        return f"processed/Error: {int(self.code)}^{MDN_LABELS[self.code]}"


class HostileInput(DocumentError):
    """SEC-IN-1/SEC-IN-2: input refused as dangerous (bomb, entities, path escape, ...)."""
