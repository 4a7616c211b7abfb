"""Recipients at other operators (MSS-TRUST-4): whitelisted ones are accepted at RCPT for the
outbound queue, others refused with 5.7.1 before anything is queued; the MX never relays."""

from __future__ import annotations

import pytest

from mss.policy import Channel, Party, Reason, evaluate_recipient
from tests.unit.test_policy import DN, FakeFacts, bal, patient, rcpt

PEER = Party("dr.bernard@peer.mssante.fr")
FACTS = FakeFacts(whitelist={"peer.mssante.fr": frozenset({DN})})


@pytest.mark.parametrize("channel", [Channel.SUBMISSION, Channel.WEBMAIL])
async def test_whitelisted_remote_recipient_is_accepted_for_the_queue(channel: Channel) -> None:
    """MSS-TRUST-4 (no more 550 5.3.3: the outbound queue delivers it)."""
    decision = await evaluate_recipient(rcpt(PEER, channel=channel), FACTS)
    assert decision.accepted


async def test_remote_recipient_off_the_whitelist_is_refused() -> None:
    decision = await evaluate_recipient(rcpt(Party("x@ailleurs.example")), FACTS)
    assert (decision.reason, decision.status) == (
        Reason.RECIPIENT_DOMAIN_NOT_WHITELISTED,
        "5.7.1",
    )


async def test_mx_still_never_relays_even_to_a_whitelisted_domain() -> None:
    decision = await evaluate_recipient(rcpt(PEER, channel=Channel.MX), FACTS)
    assert (decision.reason, decision.status) == (Reason.RELAY_DENIED, "5.7.1")


async def test_a_patient_writes_to_a_remote_professional_only_when_granted() -> None:
    """MSS-PAT-2 applies to remote professionals too: the chain goes on after the remote check."""
    me = patient()
    refused = await evaluate_recipient(rcpt(PEER, me, channel=Channel.WEBMAIL), FACTS)
    assert refused.reason is Reason.PATIENT_NOT_AUTHORISED
    granted = FakeFacts(whitelist=FACTS.whitelist, grants={(me.address, PEER.address)})
    assert (await evaluate_recipient(rcpt(PEER, me, channel=Channel.WEBMAIL), granted)).accepted


async def test_the_recipient_limit_counts_remote_recipients() -> None:
    decision = await evaluate_recipient(rcpt(PEER, bal("dr@hop.mssante.fr"), count=3), FACTS)
    assert decision.reason is Reason.TOO_MANY_RECIPIENTS
