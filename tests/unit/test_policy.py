"""Each policy rule on its own, with a fake ``Facts`` port (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from directory.models import (
    BalKind,
    BalState,
    Domain,
    DomainKind,
    Mailbox,
    Patient,
    ProfileState,
)
from mss.policy import (
    Channel,
    MessageContext,
    Party,
    Reason,
    RecipientContext,
    SenderContext,
    SessionFacts,
    evaluate_data,
    evaluate_recipient,
    evaluate_sender,
)
from mss.policy.facts import Limits

PRO = Domain("hop.mssante.fr", DomainKind.PROFESSIONAL)
PAT = Domain("patient.mssante.fr", DomainKind.PATIENT)
LIMITS = Limits(max_recipients=3, patient_max_size=100)
DN = "cn=mx.peer.mssante.fr,o=peer,c=fr"


@dataclass
class FakeFacts:
    whitelist: dict[str, frozenset[str]] = field(default_factory=dict)
    delegations: set[tuple[str, str]] = field(default_factory=set)
    grants: set[tuple[str, str]] = field(default_factory=set)

    async def whitelisted_dns(self, domain: str) -> frozenset[str]:
        return self.whitelist.get(domain, frozenset())

    async def may_act_for(self, user: str, address: str) -> bool:
        return user == address or (address, user) in self.delegations

    async def has_grant(self, patient: str, correspondent: str) -> bool:
        return (patient, correspondent) in self.grants


def bal(address: str, kind: BalKind = BalKind.PER, **kw: object) -> Party:
    return Party(address, PRO, mailbox=Mailbox(address, kind, **kw))  # type: ignore[arg-type]


def patient(state: ProfileState = ProfileState.ACTIVE) -> Party:
    address = "280057512345646@patient.mssante.fr"
    return Party(address, PAT, patient=Patient("280057512345646", address, state))


def rcpt(
    recipient: Party,
    sender: Party | None = None,
    *,
    channel: Channel = Channel.SUBMISSION,
    count: int = 0,
    size: int | None = None,
) -> RecipientContext:
    session = SessionFacts(channel, tls=True, user="dr@hop.mssante.fr")
    return RecipientContext(
        session, sender or bal("dr@hop.mssante.fr"), recipient, count, size, LIMITS
    )


async def test_mx_sender_rules() -> None:
    """MSS-TRUST-3."""
    facts = FakeFacts(whitelist={"peer.mssante.fr": frozenset({DN})})
    sender = Party("a@peer.mssante.fr")

    async def reason(tls: bool, dn: str | None, party: Party | None = sender) -> Reason:
        session = SessionFacts(Channel.MX, tls=tls, peer_dn=dn)
        return (await evaluate_sender(SenderContext(session, party), facts)).reason

    assert await reason(False, DN) is Reason.TLS_REQUIRED
    assert await reason(True, None) is Reason.CLIENT_CERTIFICATE_REQUIRED
    assert await reason(True, "cn=other") is Reason.CERTIFICATE_NOT_LISTED
    assert await reason(True, DN, Party("a@elsewhere.example")) is (
        Reason.SENDER_DOMAIN_NOT_WHITELISTED
    )
    assert await reason(True, DN) is Reason.OK
    assert await reason(True, DN, None) is Reason.OK  # a peer's DSN


async def test_submission_sender_rules() -> None:
    """MSS-BAL-2 and MSS-BAL-4."""
    facts = FakeFacts(delegations={("org@hop.mssante.fr", "dr@hop.mssante.fr")})

    async def decide(user: str | None, party: Party | None) -> tuple[Reason, str]:
        session = SessionFacts(Channel.SUBMISSION, tls=True, user=user)
        decision = await evaluate_sender(SenderContext(session, party), facts)
        return decision.reason, decision.status

    assert (await decide(None, bal("dr@hop.mssante.fr")))[0] is Reason.AUTHENTICATION_REQUIRED
    assert (await decide("dr@hop.mssante.fr", bal("dr@hop.mssante.fr")))[0] is Reason.OK
    assert (await decide("dr@hop.mssante.fr", bal("org@hop.mssante.fr", BalKind.ORG)))[0] is (
        Reason.OK
    )
    assert (await decide("dr@hop.mssante.fr", bal("x@hop.mssante.fr")))[0] is (
        Reason.SENDER_NOT_AUTHORISED
    )
    assert (await decide("dr@hop.mssante.fr", Party("dr@remote.example")))[0] is (
        Reason.SENDER_NOT_AUTHORISED
    )
    assert (await decide("dr@hop.mssante.fr", None))[0] is Reason.NULL_SENDER_NOT_ALLOWED
    suspended = bal("dr@hop.mssante.fr", state=BalState.SUSPENDED)
    assert await decide("dr@hop.mssante.fr", suspended) == (Reason.SENDER_SUSPENDED, "4.2.1")


@pytest.mark.parametrize(
    ("recipient", "reason", "status"),
    [
        (bal("a@hop.mssante.fr"), Reason.OK, "2.0.0"),
        (Party("nobody@hop.mssante.fr", PRO), Reason.RECIPIENT_UNKNOWN, "5.1.1"),
        (bal("a@hop.mssante.fr", state=BalState.SUSPENDED), Reason.RECIPIENT_SUSPENDED, "4.2.1"),
        (bal("a@hop.mssante.fr", state=BalState.CLOSED), Reason.RECIPIENT_CLOSED, "5.1.1"),
        (
            bal("noreply@hop.mssante.fr", BalKind.APP, no_reply=True),
            Reason.NO_REPLY_MAILBOX,
            "5.7.1",
        ),
        (patient(ProfileState.PENDING), Reason.PATIENT_PROFILE_NOT_OPEN, "5.1.1"),
        (patient(ProfileState.OPPOSED), Reason.PATIENT_PROFILE_NOT_OPEN, "5.1.1"),
        (patient(ProfileState.CLOSED), Reason.PATIENT_PROFILE_NOT_OPEN, "5.1.1"),
        (patient(ProfileState.AUTO_CREATED), Reason.OK, "2.0.0"),
        (Party("x@patient.mssante.fr", PAT), Reason.RECIPIENT_UNKNOWN, "5.1.1"),
        (Party("x@remote.example"), Reason.RECIPIENT_DOMAIN_NOT_WHITELISTED, "5.7.1"),
    ],
)
async def test_recipient_rules(recipient: Party, reason: Reason, status: str) -> None:
    """MSS-PAT-1, MSS-BAL-3, MSS-BAL-4, MSS-TRUST-4."""
    decision = await evaluate_recipient(rcpt(recipient), FakeFacts())
    assert (decision.reason, decision.status) == (reason, status)


async def test_recipient_limit() -> None:
    decision = await evaluate_recipient(rcpt(bal("a@hop.mssante.fr"), count=3), FakeFacts())
    assert (decision.reason, decision.status) == (Reason.TOO_MANY_RECIPIENTS, "4.5.3")


async def test_mx_never_relays() -> None:
    """MSS-TRUST-4."""
    facts = FakeFacts(whitelist={"other.mssante.fr": frozenset({DN})})
    decision = await evaluate_recipient(
        rcpt(Party("x@other.mssante.fr"), channel=Channel.MX), facts
    )
    assert decision.reason is Reason.RELAY_DENIED


async def test_patient_writes_first_only_to_granted_or_pharmacy() -> None:
    """MSS-PAT-2, MSS-PAT-4."""
    me = patient()
    doctor = bal("dr@hop.mssante.fr")
    pharmacy = bal("officine@hop.mssante.fr", BalKind.ORG, pharmacy=True)
    none = FakeFacts()
    granted = FakeFacts(grants={(me.address, doctor.address)})
    assert (await evaluate_recipient(rcpt(doctor, me), none)).reason is (
        Reason.PATIENT_NOT_AUTHORISED
    )
    assert (await evaluate_recipient(rcpt(doctor, me), granted)).accepted
    assert (await evaluate_recipient(rcpt(pharmacy, me), none)).accepted


async def test_patient_size_limits() -> None:
    """MSS-PAT-6 at RCPT (declared) and at DATA (actual)."""
    declared = await evaluate_recipient(rcpt(patient(), size=101), FakeFacts())
    assert (declared.reason, declared.status) == (Reason.MESSAGE_TOO_BIG_FOR_PATIENT, "5.3.4")
    session = SessionFacts(Channel.SUBMISSION, tls=True)
    big = MessageContext(session, None, patient(), 101, False, LIMITS)
    assert (await evaluate_data(big, FakeFacts())).status == "5.3.4"
    to_ps = MessageContext(session, None, bal("a@hop.mssante.fr"), 101, False, LIMITS)
    assert (await evaluate_data(to_ps, FakeFacts())).accepted


async def test_bare_line_endings_refused() -> None:
    """MSS-MSG-5."""
    session = SessionFacts(Channel.MX, tls=True)
    ctx = MessageContext(session, None, bal("a@hop.mssante.fr"), 10, True, LIMITS)
    decision = await evaluate_data(ctx, FakeFacts())
    assert (decision.reason, decision.status) == (Reason.BARE_LINE_ENDING, "5.5.2")
