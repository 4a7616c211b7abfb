"""Errors of the directory. ``temporary`` tells a caller whether trying again may succeed."""

from __future__ import annotations


class DirectoryError(Exception):
    temporary = False


class InvalidIns(DirectoryError):
    """MSS-INS-1: not a 15-character INS with a valid key."""


class AlreadyExists(DirectoryError):
    pass


class NotFound(DirectoryError):
    pass


class InvalidRecord(DirectoryError):
    """A record that breaks a rule of MSS-BAL-1 (e.g. no-reply on a non-APP BAL)."""


class WhitelistError(DirectoryError):
    """MSS-TRUST-1: the XML is not a usable whitelist."""
