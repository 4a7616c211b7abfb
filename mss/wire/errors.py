"""The one error type every parser of ``mss.wire`` raises for bad input."""

from __future__ import annotations


class WireSyntaxError(ValueError):
    """Input that does not follow the protocol grammar.

    The message names what is wrong (a keyword, a field) but never echoes message content.
    The protocol layer decides the reply (for SMTP usually ``501 5.5.4`` or ``555 5.5.4``).
    """
