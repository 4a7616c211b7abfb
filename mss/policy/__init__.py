"""The MSSanté rules as small named objects, one table per SMTP stage, used by every entry point.

A rule reads facts (resolved records, and lookups through the ``Facts`` port), returns a
``Decision`` with a stable ``Reason`` and an enhanced status code, and formats no protocol text.
"""

from mss.policy.chain import evaluate_data, evaluate_recipient, evaluate_sender
from mss.policy.decision import ACCEPT, Decision, Reason, Verdict
from mss.policy.facts import (
    Channel,
    Facts,
    MessageContext,
    Party,
    RecipientContext,
    SenderContext,
    SessionFacts,
)

__all__ = [
    "ACCEPT",
    "Channel",
    "Decision",
    "Facts",
    "MessageContext",
    "Party",
    "Reason",
    "RecipientContext",
    "SenderContext",
    "SessionFacts",
    "Verdict",
    "evaluate_data",
    "evaluate_recipient",
    "evaluate_sender",
]
