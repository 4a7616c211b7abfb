"""IMAP4rev1 server sessions (sockets and TLS live here; the grammar is in ``mss.wire.imap``).

Modules:
    listeners     the ``imap`` (STARTTLS, 143) and ``imaps`` (implicit TLS, 993) listeners.
    connection    lines, literals, buffered writes with backpressure, STARTTLS.
    session       one connection: states, the command loop, untagged updates of the selection.
    dispatch      the command table (valid states, handler, whether EXPUNGE may be reported).
    view          the selected mailbox: MSN <-> UID map, pending expunges, \\Recent.
    errors        the one place failures become ``NO [CODE]`` / ``BAD`` replies.
    throttle      password guessing: growing waits per peer address and per login.
    basic, login, folders, selection, fetching, searching, messages: the command groups.

Imports: mss.auth, mss.audit, mss.wire, mailbox_store, config (never mss.smtp).
"""
