"""Errors of the IMAP wire layer: one syntax error type, carrying the tag for the BAD reply."""

from __future__ import annotations

from mss.wire.errors import WireSyntaxError


class ImapSyntaxError(WireSyntaxError):
    """A command that does not follow the grammar: the session answers ``tag BAD``.

    ``tag`` is the command tag when it could be read (else the reply is untagged ``* BAD``).
    The message names the faulty element but never echoes client data.
    """

    status = "BAD"
    code: str | None = None

    def __init__(self, message: str, tag: str | None = None) -> None:
        super().__init__(message)
        self.tag = tag


class LiteralTooLargeError(ImapSyntaxError):
    """A literal announcement above the limit, raised BEFORE any literal byte is read.

    For a synchronising literal the session answers ``tag NO [TOOBIG]`` (or BAD) without sending
    a continuation; for a non-synchronising one (``{n+}``) it must drop the connection or discard
    ``size`` bytes, since the client is already sending them (RFC 7888 §4).
    """

    code = "TOOBIG"  # RFC 4469/7889 response code

    def __init__(self, message: str, tag: str | None, size: int, non_synchronizing: bool) -> None:
        super().__init__(message, tag)
        self.size = size
        self.non_synchronizing = non_synchronizing
