"""Pure wire code: parsers and renderers for the mail protocols, with no I/O.

``mss.wire`` takes text or bytes and returns frozen dataclasses, or renders them back. It never
touches sockets, files or storage, and every parser raises one error type for bad input,
:class:`mss.wire.errors.WireSyntaxError`.

Modules (others sit beside them, e.g. ``sasl``, ``smtp_codes``):
    errors       the single syntax error type.
    smtp_params  MAIL/RCPT paths and ESMTP parameters (SIZE, BODY, SMTPUTF8, DSN), xtext.
    dsn          RFC 3464 delivery status notifications (MSS-MSG-2).
    headers      reading header fields from a raw message without changing it (MSS-MSG-1),
                 bare line ending detection (MSS-MSG-5), our ``Received:`` field.
    smtp_data    the DATA phase: end of data, dot-unstuffing, size and line limits.
    imap/        IMAP4rev1 and extensions: command parser, literals, sequence sets, modified
                 UTF-7, response renderer, ENVELOPE and BODYSTRUCTURE.

Allowed imports: the standard library and ``mss.wire`` itself; nothing else of ours.
"""
