"""The durable outbound queue: messages for other operators, stored before the ``250``.

``interfaces.OutboundQueue`` is the port; ``sql.SqlOutboundQueue`` (SQLite, PostgreSQL) and
``memory.MemoryOutboundQueue`` implement it; ``schedule`` says when to retry, warn and give up;
``relay`` is the seam with the SMTP client that delivers to other operators.

Imports: mss.policy, mss.wire, mailbox_store (sealing), directory, config.
"""

from mss.outbound.interfaces import OutboundQueue
from mss.outbound.memory import MemoryOutboundQueue
from mss.outbound.models import (
    Batch,
    Done,
    Lease,
    NewMessage,
    NewRecipient,
    QueuedMessage,
    QueuedRecipient,
    Retry,
    Settlement,
)
from mss.outbound.sql import SqlOutboundQueue

__all__ = [
    "Batch",
    "Done",
    "Lease",
    "MemoryOutboundQueue",
    "NewMessage",
    "NewRecipient",
    "OutboundQueue",
    "QueuedMessage",
    "QueuedRecipient",
    "Retry",
    "Settlement",
    "SqlOutboundQueue",
]
