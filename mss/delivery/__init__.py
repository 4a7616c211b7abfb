"""Use cases shared by every entry point: check a sender, check a recipient, deliver a message,
keep patient grants, send DSNs. SMTP (MX and submission) and the webmail all come through here,
hence through the same policy chain.
"""

from mss.delivery.envelope import DeliveryReport, Envelope, Origin, Recipient, RecipientOutcome
from mss.delivery.service import DeliveryService

__all__ = [
    "DeliveryReport",
    "DeliveryService",
    "Envelope",
    "Origin",
    "Recipient",
    "RecipientOutcome",
]
