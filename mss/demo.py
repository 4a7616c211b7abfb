"""``mss demo``: a complete, self-contained operator in one folder, and its manifest ``demo.json``.

First run: a test PKI, a config file, a demo whitelist, demo accounts. Every run: serve, and
rewrite ``demo.json`` with the ports actually bound (see ARCHITECTURE.md, "The demo").
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from directory.ins import make_ins, patient_address
from directory.models import (
    BalKind,
    Domain,
    DomainKind,
    IdentifierKind,
    Mailbox,
    Patient,
    ProfileState,
)
from mss import pki
from mss.app import Operator

OUR_DOMAIN = "hopital-demo.mssante.fr"
PATIENT_DOMAIN = "patient.mssante.fr"
PEER_DOMAIN = "operateur-pair.mssante.fr"
UNTRUSTED_DOMAIN = "operateur-inconnu.example"
HOSTNAME = f"mx.{OUR_DOMAIN}"
CONFIG = "mss.toml"
ACCOUNTS = "accounts.json"
MANIFEST = "demo.json"
LISTENER_PORTS = {"mx": 25, "submission": 587, "submissions": 465}
ANS_TEST_INS = "279035121518989"  # the INS (test NIR) of most ANS example CDA documents
IMAP_LISTENER_PORTS = {"imap": 143, "imaps": 993}


@dataclass
class DemoAccount:
    address: str
    kind: str  # PER|ORG|APP|CAB|PATIENT
    password: str
    rpps: str | None = None
    ins: str | None = None
    state: str = "active"
    delegates: list[str] = field(default_factory=list)
    pharmacy: bool = False
    no_reply: bool = False
    display_name: str = ""


def prepare(folder: Path, port_base: int) -> bool:
    """Create the demo folder on first run; False when it already existed."""
    if (folder / CONFIG).exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pki").mkdir(exist_ok=True)
    issued = _make_pki(folder / "pki")
    (folder / "whitelist.xml").write_text(_whitelist_xml(issued), encoding="utf-8")
    _write_private(folder / CONFIG, _config_toml(port_base))
    accounts = [asdict(a) for a in _accounts()]
    _write_private(folder / ACCOUNTS, json.dumps(accounts, indent=2, ensure_ascii=False))
    return True


async def populate(operator: Operator, folder: Path) -> None:
    """Load the demo accounts into the directory and the store (first run only)."""
    directory = operator.directory
    if await directory.get_domain(OUR_DOMAIN) is not None:
        return
    await directory.add_domain(Domain(OUR_DOMAIN, DomainKind.PROFESSIONAL))
    await directory.add_domain(Domain(PATIENT_DOMAIN, DomainKind.PATIENT))
    now = datetime.now(UTC)
    accounts = [DemoAccount(**a) for a in json.loads((folder / ACCOUNTS).read_text())]
    for account in accounts:
        if account.kind == "PATIENT":
            await directory.add_patient(_patient(account, now))
        else:
            await directory.add_mailbox(_mailbox(account))
        await directory.set_password(account.address, account.password)
        await operator.store.create_account(account.address)
    for account in accounts:
        for delegate in account.delegates:
            await directory.add_delegate(account.address, delegate)


def write_manifest(operator: Operator, folder: Path) -> Path:
    """``demo.json``: listeners as bound, PKI paths, accounts (paths relative to the folder)."""
    accounts = json.loads((folder / ACCOUNTS).read_text())
    listeners: dict[str, Any] = {
        name: {"host": listener.host, "port": listener.port}
        for name, listener in operator.listeners.items()
    }
    manifest = {
        "listeners": listeners,
        "ca_cert": "pki/ca.pem",
        "our_domain": OUR_DOMAIN,
        "patient_domain": PATIENT_DOMAIN,
        "hostname": HOSTNAME,
        "peer_operator": {"domain": PEER_DOMAIN, "cert": "pki/peer.pem", "key": "pki/peer.key"},
        "untrusted_operator": {
            "domain": UNTRUSTED_DOMAIN,
            "cert": "pki/untrusted.pem",
            "key": "pki/untrusted.key",
        },
        "accounts": accounts,
    }
    path = folder / MANIFEST
    _write_private(path, json.dumps(manifest, indent=2, ensure_ascii=False))
    return path


def _make_pki(folder: Path) -> dict[str, pki.Issued]:
    ca = pki.create_ca(folder)
    return {
        "ca": ca,
        "server": pki.issue(
            ca,
            folder,
            "server",
            common_name=HOSTNAME,
            organisation="Hopital Demo",
            organisational_unit="999999999",
            dns_names=[HOSTNAME, "localhost"],
            ip_addresses=["127.0.0.1"],
        ),
        "peer": pki.issue(
            ca,
            folder,
            "peer",
            common_name=f"mx.{PEER_DOMAIN}",
            organisation="Operateur Pair Demo",
            organisational_unit="888888888",
            dns_names=[f"mx.{PEER_DOMAIN}", "localhost"],
            ip_addresses=["127.0.0.1"],
        ),
        "untrusted": pki.issue(
            ca,
            folder,
            "untrusted",
            common_name=f"mx.{UNTRUSTED_DOMAIN}",
            organisation="Operateur Inconnu",
            organisational_unit="777777777",
            dns_names=[f"mx.{UNTRUSTED_DOMAIN}"],
            ip_addresses=["127.0.0.1"],
        ),
    }


def _whitelist_xml(issued: dict[str, pki.Issued]) -> str:
    """A list in the ANS format (MSS-TRUST-1) naming us and the peer, not the untrusted one."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = [(OUR_DOMAIN, issued["server"].subject_dn), (PEER_DOMAIN, issued["peer"].subject_dn)]
    domains = "".join(
        f"<Domaine><Nom>{escape(name)}</Nom><Description>Demo</Description>"
        f"<DNCertificatOperateur>{escape(dn)}</DNCertificatOperateur>"
        f"<ResponsableContact>demo</ResponsableContact><SupportContact>demo</SupportContact>"
        f"<DateMAJ>{now}</DateMAJ></Domaine>"
        for name, dn in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">'
        f"<DateDeGeneration>{now}</DateDeGeneration><ListeDomaines>{domains}</ListeDomaines>"
        "</ListeBlancheMSSante>\n"
    )


def _config_toml(port_base: int) -> str:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    lines = [
        "# mss demo configuration (see `mss config example` for every setting)",
        'data_dir = "data"',
        "",
        "[smtp]",
        f'hostname = "{HOSTNAME}"',
        "auth_failure_delay = 0.5",
    ]
    for name, port in LISTENER_PORTS.items():
        bound = port_base + port if port_base else 0
        lines += ["", f"[smtp.{name}]", 'host = "127.0.0.1"', f"port = {bound}"]
    for name, port in IMAP_LISTENER_PORTS.items():
        bound = port_base + port if port_base else 0
        lines += ["", f"[imap.{name}]", 'host = "127.0.0.1"', f"port = {bound}"]
    lines += [
        "",
        "[tls]",
        'cert_file = "pki/server.pem"',
        'key_file = "pki/server.key"',
        'trust_anchors = "pki/ca.pem"',
        "",
        "[storage]",
        'blob_dir = "data/blobs"',
        'active_key = "demo1"',
        f'keys = {{ demo1 = "{key}" }}',
        "",
        "[directory]",
        'whitelist_file = "whitelist.xml"',
        "",
    ]
    return "\n".join(lines)


def _accounts() -> list[DemoAccount]:
    def password() -> str:
        return secrets.token_urlsafe(12)

    doctor = f"dr.martin@{OUR_DOMAIN}"
    nurse = f"ide.durand@{OUR_DOMAIN}"
    accounts = [
        DemoAccount(doctor, "PER", password(), rpps="10001234567", display_name="Dr Alice Martin"),
        DemoAccount(nurse, "PER", password(), rpps="10007654321", display_name="Paul Durand"),
        DemoAccount(
            f"secretariat.cardio@{OUR_DOMAIN}",
            "ORG",
            password(),
            delegates=[doctor, nurse],
            display_name="Secretariat de cardiologie",
        ),
        DemoAccount(
            f"pharmacie.centrale@{OUR_DOMAIN}",
            "ORG",
            password(),
            pharmacy=True,
            display_name="Pharmacie centrale",
        ),
        DemoAccount(
            f"noreply@{OUR_DOMAIN}",
            "APP",
            password(),
            no_reply=True,
            display_name="Hopital Demo (ne pas repondre)",
        ),
    ]
    # Fictitious INS bodies (sex, year, month, place, order) with their computed keys.
    bodies = {
        "active": "2800575123456",
        "auto_created": "1750913055123",
        "pending": "2920299123789",
        "opposed": "1660269123001",
        "closed": "201122A012345",
    }
    for state, body in bodies.items():
        ins = make_ins(body)
        accounts.append(
            DemoAccount(
                patient_address(ins, PATIENT_DOMAIN), "PATIENT", password(), ins=ins, state=state
            )
        )
    # The patient of the ANS test documents (tests/data/cda): try the envoi en Y with them.
    accounts.append(
        DemoAccount(
            patient_address(ANS_TEST_INS, PATIENT_DOMAIN),
            "PATIENT",
            password(),
            ins=ANS_TEST_INS,
            state="active",
        )
    )
    return accounts


def _mailbox(account: DemoAccount) -> Mailbox:
    return Mailbox(
        address=account.address,
        kind=BalKind(account.kind),
        display_name=account.display_name,
        identifier=account.rpps,
        identifier_kind=IdentifierKind.RPPS if account.rpps else None,
        profession_code="10" if account.rpps else None,
        structure_id=None if account.rpps else "990000001",
        pharmacy=account.pharmacy,
        no_reply=account.no_reply,
    )


def _patient(account: DemoAccount, now: datetime) -> Patient:
    if account.ins is None:
        raise ValueError(f"demo patient {account.address} has no INS")
    state = ProfileState(account.state)
    notified = now - timedelta(days=10 if state is ProfileState.PENDING else 60)
    return Patient(
        ins=account.ins,
        address=account.address,
        state=state,
        notification_email=f"patient+{account.ins[-4:]}@example.org",
        notified_at=notified,
        state_changed_at=now,
    )


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords or keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
