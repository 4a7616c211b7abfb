"""The post-delivery hook of MSS-PAT-7: each copy delivered to a patient mailbox adds one
message to the patient's notification outbox (coalesced there). Quick and durable: one small
transaction per patient copy; the sending job does the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from directory.models import Patient
from mss.delivery.envelope import DeliveryReport, Envelope
from mss.notify.names import Mailboxes, sender_name
from mss.notify.outbox import PatientOutbox


class Directory(Mailboxes, Protocol):
    async def get_patient(self, address: str) -> Patient | None: ...


class NotifyHook:
    """An ``AfterDelivery`` job (``mss.delivery.service``)."""

    def __init__(
        self,
        *,
        outbox: PatientOutbox,
        directory: Directory,
        clock: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._outbox = outbox
        self._directory = directory
        self._clock = clock
        self._wake = wake

    async def __call__(self, envelope: Envelope, data: bytes, report: DeliveryReport) -> None:
        name: str | None = None
        added = False
        for outcome in report.delivered:
            patient = await self._directory.get_patient(outcome.recipient.address.lower())
            if patient is None or patient.address == envelope.sender.lower():
                continue
            if name is None:  # MSS-PAT-5: the name, never the address
                name = await sender_name(self._directory, envelope.sender, data)
            await self._outbox.add(patient.ins, patient.address, name, self._clock())
            added = True
        if added:
            self._wake()
