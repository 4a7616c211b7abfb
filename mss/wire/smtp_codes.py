"""SMTP basic reply codes from enhanced status codes (RFC 3463), for replies and DSNs."""

from __future__ import annotations

SPECIFIC = {
    "4.5.3": 452,  # too many recipients (RFC 5321 §4.5.3.1.10)
    "5.3.4": 552,  # message too big
    "5.5.2": 550,
    "5.5.4": 555,
    "5.7.0": 530,
    "5.7.8": 535,
    "4.3.0": 451,
}


def basic_code(status: str) -> int:
    """The three-digit reply code that goes with an enhanced status code."""
    if status in SPECIFIC:
        return SPECIFIC[status]
    return {"2": 250, "4": 450, "5": 550}.get(status[:1], 451)
