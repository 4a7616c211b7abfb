"""Errors of the DMP store that are not filing refusals (those are ``DocumentError``s)."""

from __future__ import annotations

from dmp_bridge.errors import DocumentError


class StoreError(DocumentError):
    """A DMP store failure (DMP-MDN-1 code 906 unless said otherwise)."""


class UnknownDocument(StoreError):
    """No document has this entry id."""


class CorruptContent(StoreError):
    """Stored content no longer matches its hash or size (or its seal)."""

    temporary = False
