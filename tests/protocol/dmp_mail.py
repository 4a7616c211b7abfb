"""Helpers for the DMP protocol tests: patients of the ANS fixtures, XDM messages, waiting for the
filing worker, reading the record and the MDNs."""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from directory.ins import make_ins, patient_address
from directory.models import Patient, ProfileState
from dmp_bridge.cda import parse_cda
from dmp_bridge.store.models import StoredDocument
from mss.dmp.bridge import DmpBridge
from tests.conftest import DATA
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import submission_client

CDA = DATA / "cda"
PATIENT_DOMAIN = "patient.mssante.fr"
# CSE-CS8 names an INS whose key is wrong (the directory refuses it): the tests use a valid one.
CSE_INS = "223042545611404"
CSE_VALID_INS = make_ins(CSE_INS[:13])


def fixtures() -> list[Path]:
    return sorted(CDA.glob("*.xml"))


def cda_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return data.replace(CSE_INS.encode(), CSE_VALID_INS.encode())


def with_fresh_id(cda: bytes, suffix: str) -> bytes:
    """``cda`` under a document id of its own (a test that must file, not de-duplicate)."""
    root = parse_cda(cda).document_id.root
    return cda.replace(f'root="{root}"'.encode(), f'root="{root}.{suffix}"'.encode(), 1)


def bridge(running: RunningOperator) -> DmpBridge:
    assert running.operator.dmp is not None
    return running.operator.dmp


def ensure_patient(running: RunningOperator, ins: str) -> str:
    """The address of an open patient mailbox for ``ins`` (created on first use)."""
    address = patient_address(ins, PATIENT_DOMAIN)

    async def add() -> None:
        directory = running.operator.directory
        if await directory.get_patient(address) is None:
            now = datetime.now(UTC)
            await directory.add_patient(
                Patient(ins, address, ProfileState.ACTIVE, notified_at=now, state_changed_at=now)
            )
        await running.operator.store.create_account(address)

    running.call(add())
    return address


def xdm_message(
    sender: str,
    to: str,
    archives: list[bytes],
    *,
    receipt: bool = True,
    subject: str = "XDM/1.0/DDM+Compte rendu DUPONT Jeanne 19790301",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@test.invalid>"
    if receipt:
        msg["Disposition-Notification-To"] = sender
    msg.set_content("Bonjour,\nvoici les documents.\n")
    for archive in archives:
        msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def send_as_doctor(running: RunningOperator, to: str, message: bytes) -> str:
    doctor = running.account("PER", rpps="10001234567")
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        refused = client.sendmail(doctor["address"], [to], message)
    assert refused == {}
    return str(doctor["address"])


def wait_for_filing(running: RunningOperator, timeout: float = 60.0) -> dict[str, int]:
    """Wait until no filing job is pending or running; the counts by state."""
    deadline = time.monotonic() + timeout
    while True:
        counts = running.call(bridge(running).jobs.counts())
        if not counts.get("pending") and not counts.get("running"):
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"filing jobs still waiting: {counts}")
        time.sleep(0.05)


def documents(running: RunningOperator, ins: str, deprecated: bool = False) -> list[StoredDocument]:
    return list(running.call(bridge(running).store.list_documents(ins, deprecated)))


def mdn_dispositions(raw_messages: list[bytes]) -> list[str]:
    """The Disposition field of each MDN among ``raw_messages`` (unfolded, spaces normalised)."""
    found = []
    for raw in raw_messages:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        for part in parsed.walk():
            if part.get_content_type() != "message/disposition-notification":
                continue
            payload = part.get_payload()
            text = "\n".join(str(p) for p in payload) if isinstance(payload, list) else str(payload)
            for field in text.replace("\r", "").replace("\n ", " ").split("\n"):
                if field.startswith("Disposition:"):
                    found.append(" ".join(field.split()))
    return found
