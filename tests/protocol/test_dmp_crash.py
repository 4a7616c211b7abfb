"""Filing survives a crash: the server is killed with SIGKILL right after the 250s of messages
carrying documents for a patient, while their filing is still under way; after a restart every
document is in the patient's record exactly once and every job is done."""

from __future__ import annotations

import asyncio
import signal
import smtplib
import ssl
import time
from pathlib import Path

import pytest

from config import load_settings
from dmp_bridge.cda import parse_cda
from dmp_bridge.xdm_build import build_xdm
from mss import demo
from mss.app import open_operator
from tests.protocol.dmp_mail import CDA, with_fresh_id, xdm_message
from tests.protocol.test_crash_safety import start_server

pytestmark = pytest.mark.slow

MESSAGES = 30
DOCUMENTS_PER_MESSAGE = 4
FIXTURE_INS = "279035121518989"


async def _state(folder: Path, ins: str) -> tuple[dict[str, int], list[str]]:
    async with open_operator(load_settings(folder / demo.CONFIG)) as operator:
        assert operator.dmp is not None
        counts = await operator.dmp.jobs.counts()
        documents = await operator.dmp.store.list_documents(ins)
    return counts, [document.unique_id for document in documents]


def _messages(doctor: str, patient: str, ins: str) -> tuple[list[bytes], list[str]]:
    base = (CDA / "VAC_2023.01.xml").read_bytes().replace(FIXTURE_INS.encode(), ins.encode())
    messages, ids = [], []
    for number in range(MESSAGES):
        cdas = [with_fresh_id(base, f"{number}.{k}") for k in range(DOCUMENTS_PER_MESSAGE)]
        ids += [str(parse_cda(cda).document_id) for cda in cdas]
        messages.append(xdm_message(doctor, patient, [build_xdm(cdas)], receipt=False))
    return messages, ids


def _send_all(folder: Path, manifest: dict[str, object], messages: list[bytes]) -> None:
    listeners = manifest["listeners"]
    accounts = manifest["accounts"]
    assert isinstance(listeners, dict)
    assert isinstance(accounts, list)
    doctor = next(a for a in accounts if a["kind"] == "PER")
    patient = next(a for a in accounts if a["kind"] == "PATIENT" and a["state"] == "active")
    context = ssl.create_default_context(cafile=str(folder / "pki" / "ca.pem"))
    context.check_hostname = False
    with smtplib.SMTP("127.0.0.1", int(listeners["submission"]["port"]), timeout=30) as client:
        client.starttls(context=context)
        client.login(doctor["address"], doctor["password"])
        for message in messages:
            assert client.sendmail(doctor["address"], [patient["address"]], message) == {}


def test_sigkill_after_the_250_loses_no_filing(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    process, manifest = start_server(folder)
    accounts = manifest["accounts"]
    assert isinstance(accounts, list)
    doctor = next(a for a in accounts if a["kind"] == "PER")
    patient = next(a for a in accounts if a["kind"] == "PATIENT" and a["state"] == "active")
    messages, ids = _messages(doctor["address"], patient["address"], patient["ins"])
    try:
        _send_all(folder, manifest, messages)
        process.send_signal(signal.SIGKILL)  # every 250 is in: the filing is not done yet
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    counts, _ = asyncio.run(_state(folder, patient["ins"]))
    assert sum(counts.values()) == MESSAGES  # one durable job per acknowledged message
    assert counts.get("done", 0) < MESSAGES, "the crash window was not exercised"

    restarted, _ = start_server(folder)  # the worker takes the jobs the crash left
    try:
        deadline = time.monotonic() + 120
        while True:
            counts, filed = asyncio.run(_state(folder, patient["ins"]))
            if counts.get("done", 0) == MESSAGES or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)
    assert counts == {"done": MESSAGES}
    assert sorted(filed) == sorted(ids)  # each document exactly once
