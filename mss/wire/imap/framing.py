"""Assembling one command from the lines and literals a session reads (still no I/O).

The session reads a line and gives it to :meth:`CommandAssembler.line`. The answer is a command,
or a :class:`LiteralRequest` — then the session (after ``+ Ready`` for a synchronising literal)
reads exactly ``size`` bytes, hands them to :meth:`CommandAssembler.literal`, reads the next line
and calls :meth:`CommandAssembler.line` again. A syntax error (including
:class:`LiteralTooLargeError`, raised before the literal is read) resets the assembler.

Reading IDLE's ``DONE`` and SASL client responses also lives here.
"""

from __future__ import annotations

import base64
import binascii

from mss.wire.imap.command import AnyCommand
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.lexer import DEFAULT_LIMITS, Limits, LiteralRequest
from mss.wire.imap.parser import parse_command


class CommandAssembler:
    """Collects the pieces of one command; one instance per connection."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._parts: list[bytes] = []
        self._pending: LiteralRequest | None = None

    @property
    def pending(self) -> LiteralRequest | None:
        """The literal the session must read next, if any."""
        return self._pending

    def reset(self) -> None:
        self._parts = []
        self._pending = None

    def line(self, line: bytes) -> AnyCommand | LiteralRequest:
        """Add a line (ending with CRLF); return the command or the next literal request."""
        if self._pending is not None:
            raise RuntimeError("a literal is pending: call literal() first")
        self._parts.append(line)
        try:
            result = parse_command(b"".join(self._parts), self.limits)
        except ImapSyntaxError:
            self.reset()
            raise
        if isinstance(result, LiteralRequest):
            self._pending = result
        else:
            self.reset()
        return result

    def literal(self, data: bytes) -> None:
        """Add the bytes of the pending literal (exactly its announced size)."""
        if self._pending is None or len(data) != self._pending.size:
            raise RuntimeError("literal does not match the pending request")
        self._parts.append(data)
        self._pending = None


def is_idle_done(line: bytes) -> bool:
    """RFC 2177: only ``DONE`` (any case) ends IDLE; anything else is a protocol error."""
    return line.upper() == b"DONE\r\n"


def parse_sasl_response(line: bytes) -> bytes | None:
    """A client's answer to a ``+`` challenge: base64 data, or ``None`` for ``*`` (cancel)."""
    if not line.endswith(b"\r\n"):
        raise ImapSyntaxError("SASL response must end with CRLF")
    text = line[:-2]
    if text == b"*":
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImapSyntaxError("bad base64 in SASL response") from exc
