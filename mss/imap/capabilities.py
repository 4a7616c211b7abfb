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
    "ESEARCH",
    "QUOTA",
    "QUOTA=RES-STORAGE",
)
ENABLEABLE = frozenset({"CONDSTORE"})


def capabilities(*, tls: bool, can_starttls: bool, authenticated: bool) -> tuple[str, ...]:
    """MSS-TLS-2: before TLS no AUTH= and ``LOGINDISABLED``; after login the full list."""
    if authenticated:
        return BASE + AFTER_LOGIN
    if not tls:
        return (*BASE, *(("STARTTLS",) if can_starttls else ()), "LOGINDISABLED")
    return (*BASE, "AUTH=PLAIN")
