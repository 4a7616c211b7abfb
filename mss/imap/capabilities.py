"""What the server advertises: exactly what works, and what depends on TLS and login."""

from __future__ import annotations

BASE = ("IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE")
AFTER_LOGIN = (
    "UIDPLUS",
    "MOVE",
    "UNSELECT",
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "CONDSTORE",
    "QRESYNC",  # RFC 7162 §3.2 (mss/imap/qresync.py)
    "ESEARCH",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "BINARY",  # RFC 3516 (mss/wire/imap/binary.py, streaming.py; APPEND of a literal8)
)
ENABLEABLE = frozenset({"CONDSTORE", "QRESYNC"})


def capabilities(*, tls: bool, can_starttls: bool, authenticated: bool) -> tuple[str, ...]:
    """MSS-TLS-2: before TLS no AUTH= and ``LOGINDISABLED``; after login the full list."""
    if authenticated:
        return BASE + AFTER_LOGIN
    if not tls:
        return (*BASE, *(("STARTTLS",) if can_starttls else ()), "LOGINDISABLED")
    return (*BASE, "AUTH=PLAIN")
