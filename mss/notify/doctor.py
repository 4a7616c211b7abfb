"""The médecin traitant's notice of an emergency access to a patient's record (DMP-ACL-3).

It goes to the doctor's MSSanté mailbox, inside the space of trust, through the operator's own
delivery path (like an MDN), never through the smarthost. It names the patient by INS (the
doctor's own patient) and the professional who accessed the record, and nothing of the record.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from mss.notify.content import UNKNOWN_FR, Envelope


def render_for_doctor(to: str, ins: str, actor: str, envelope: Envelope, now: datetime) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = envelope.sender
    message["To"] = to
    message["Subject"] = "Accès en urgence au dossier médical d'un de vos patients"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=envelope.hostname)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834
    body = (
        "Bonjour,\n\n"
        f"Le dossier médical de votre patient (INS {ins}), dont vous êtes le médecin traitant, "
        f"a fait l'objet d'un accès en urgence par {actor or UNKNOWN_FR} "
        f"le {now:%d/%m/%Y à %H:%M} (UTC).\n"
        "Les traces d'accès sont consultables dans le dossier.\n\n"
        "Ceci est un message automatique : merci de ne pas y répondre.\n"
    )
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    return message.as_bytes()
