"""Pure IMAP4rev1 wire layer (RFC 3501 and the extensions our server speaks).

No sockets, no storage: bytes in, frozen dataclasses out, and back. Every parser raises
:class:`ImapSyntaxError` (a :class:`mss.wire.errors.WireSyntaxError`) for bad input.

Modules:
    errors     :class:`ImapSyntaxError` (tag + ``BAD``) and :class:`LiteralTooLargeError`.
    utf7       modified UTF-7 mailbox names (RFC 3501 §5.1.3).
    sequence   sequence sets (``1:*``, ``2,4:7``) resolved lazily against a maximum.
    lexer      the byte reader: atoms, strings, literals (:class:`LiteralRequest`), lists, limits.
    dates      ``date`` and ``date-time``.
    search     SEARCH keys as a tree; ``fetch``: FETCH attributes and sections.
    lists      mailbox names, LIST/LSUB (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), STATUS items.
    command    the command values, one frozen dataclass per command family.
    parser     :func:`parse_command` — the bytes of one command (lines + literals) to a command.
    response   rendering of tagged/untagged/continuation/FETCH responses and values.
    structure  ENVELOPE and BODYSTRUCTURE from a raw message.

Allowed imports: the standard library and ``mss.wire.errors``.
"""
