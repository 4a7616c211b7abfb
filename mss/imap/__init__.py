"""IMAP4rev1 server sessions (sockets and TLS live here; the grammar is in ``mss.wire.imap``).

Imports: mss.auth, mss.delivery and below, mailbox_store, directory, config.
"""
