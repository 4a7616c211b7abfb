"""The notification e-mails, French first and English second: pure.

MSS-PAT-7 (content rule, chosen): a notification says that something arrived (or happened) and
from whom — the professional's name or organisation, never an address (MSS-PAT-5) — and nothing
else: no subject, no body, no document title or type, no health content at all. The patient
reads the rest in the webmail, after signing in (MSS-PAT-9). DMP-AUD-1: the same for a
professional's first access to the record, a new document, an emergency access.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from enum import StrEnum

UNKNOWN_FR = "un professionnel de santé"
UNKNOWN_EN = "a health professional"


class Topic(StrEnum):
    NEW_MESSAGE = "new_message"  # MSS-PAT-7
    FIRST_ACCESS = "first_access"  # DMP-AUD-1
    NEW_DOCUMENT = "new_document"  # DMP-AUD-1
    EMERGENCY_ACCESS = "emergency_access"  # DMP-ACL-3


@dataclass(frozen=True, slots=True)
class Notice:
    topic: Topic
    to: str  # the patient's personal address
    names: tuple[str, ...] = ()  # who: display names or organisations, never addresses
    count: int = 1  # messages gathered in one notification


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str  # our From: and envelope sender
    link: str  # the webmail
    hostname: str  # for the Message-ID


_SUBJECTS = {
    Topic.NEW_MESSAGE: (
        "Nouveau message dans votre messagerie de santé",
        "New message in your health mailbox",
    ),
    Topic.FIRST_ACCESS: (
        "Consultation de votre dossier médical",
        "Your medical record was accessed",
    ),
    Topic.NEW_DOCUMENT: (
        "Nouveau document dans votre dossier médical",
        "New document in your medical record",
    ),
    Topic.EMERGENCY_ACCESS: (
        "Accès en urgence à votre dossier médical",
        "Emergency access to your medical record",
    ),
}


def render(notice: Notice, envelope: Envelope, now: datetime) -> bytes:
    """The whole e-mail, CRLF line endings, ready for DATA."""
    message = EmailMessage(policy=SMTP)
    french, english = _SUBJECTS[notice.topic]
    message["From"] = envelope.sender
    message["To"] = notice.to
    message["Subject"] = f"{french} / {english}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=envelope.hostname)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies to it
    message.set_content(_body(notice, envelope.link), charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def _body(notice: Notice, link: str) -> str:
    french, english = _sentences(notice)
    return (
        "Bonjour,\n\n"
        f"{french}\n\n"
        f"Pour en savoir plus, connectez-vous à votre espace : {link}\n\n"
        "Ceci est un message automatique : merci de ne pas y répondre.\n\n"
        "---\n\n"
        "Hello,\n\n"
        f"{english}\n\n"
        f"To learn more, sign in to your space: {link}\n\n"
        "This is an automatic message: please do not reply to it.\n"
    )


def _sentences(notice: Notice) -> tuple[str, str]:
    fr = _names(notice.names, UNKNOWN_FR, " et ")
    en = _names(notice.names, UNKNOWN_EN, " and ")
    if notice.topic is Topic.NEW_MESSAGE:
        if notice.count > 1:
            return (
                f"Vous avez reçu {notice.count} nouveaux messages dans votre messagerie "
                f"de santé, de la part de {fr}.",
                f"You have received {notice.count} new messages in your health mailbox, from {en}.",
            )
        return (
            "Vous avez reçu un nouveau message dans votre messagerie de santé, "
            f"de la part de {fr}.",
            f"You have received a new message in your health mailbox, from {en}.",
        )
    if notice.topic is Topic.FIRST_ACCESS:
        return (
            f"Votre dossier médical a été consulté pour la première fois par {fr}.",
            f"Your medical record was accessed for the first time by {en}.",
        )
    if notice.topic is Topic.NEW_DOCUMENT:
        return (
            f"Un nouveau document a été ajouté à votre dossier médical par {fr}.",
            f"A new document was added to your medical record by {en}.",
        )
    return (
        f"Votre dossier médical a été consulté en urgence par {fr}.",
        f"Your medical record was accessed in an emergency by {en}.",
    )


def _names(names: tuple[str, ...], unknown: str, conjunction: str) -> str:
    shown = [name for name in names if name] or [unknown]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + conjunction + shown[-1]
