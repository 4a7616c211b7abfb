"""Errors of the mailbox store; ``temporary`` tells whether trying again may succeed."""

from __future__ import annotations


class StoreError(Exception):
    temporary = False


class UnknownAccount(StoreError):
    pass


class UnknownFolder(StoreError):
    pass


class UnknownMessage(StoreError):
    """No message with that UID in the folder (never delivered, or expunged)."""


class FolderExists(StoreError):
    pass


class BlobError(StoreError):
    """A blob is missing, or fails authentication (tampered, or wrong key)."""


class StorageUnavailable(StoreError):
    """The database or the disk failed; the message was not stored."""

    temporary = True


class QuotaExceeded(StoreError):
    """The account's storage quota would be passed (RFC 9208 ``OVERQUOTA``)."""


class HasChildren(StoreError):
    """A folder with inferior hierarchical names cannot be deleted (RFC 3501 §6.3.4)."""


FolderNotEmpty = HasChildren


class FolderProtected(StoreError):
    """INBOX cannot be deleted nor be a rename's target; or the folder name is invalid."""
