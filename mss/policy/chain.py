"""The rule table: which rules run, in which order, at each stage and on each channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from mss.policy import rules as r
from mss.policy.decision import ACCEPT, Decision
from mss.policy.facts import Channel, Facts, MessageContext, RecipientContext, SenderContext

SENDER_RULES: dict[Channel, tuple[r.Rule[SenderContext], ...]] = {
    Channel.MX: (
        r.MxRequiresTls(),
        r.MxRequiresClientCertificate(),
        r.MxSenderDomainWhitelisted(),
    ),
    Channel.SUBMISSION: (
        r.SubmissionRequiresAuthentication(),
        r.SenderIsOwnBal(),
        r.SenderBalActive(),
    ),
    Channel.WEBMAIL: (r.SubmissionRequiresAuthentication(), r.SenderIsOwnBal()),
    Channel.INTERNAL: (),
}

RECIPIENT_RULES: tuple[r.Rule[RecipientContext], ...] = (
    r.RecipientCount(),
    r.RemoteRecipient(),
    r.RecipientExists(),
    r.RecipientActive(),
    r.NoReplyRefusesMail(),
    r.PatientProfileOpen(),
    r.PatientDeclaredSize(),
    r.PatientWritesToGrantedOnly(),
)

MESSAGE_RULES: tuple[r.Rule[MessageContext], ...] = (
    r.NoBareLineEndings(),
    r.PatientMessageSize(),
)

C = TypeVar("C")


async def _first_objection(rules: Sequence[r.Rule[C]], ctx: C, facts: Facts) -> Decision:
    for rule in rules:
        decision = await rule.check(ctx, facts)
        if decision is not None:
            return decision
    return ACCEPT


async def evaluate_sender(ctx: SenderContext, facts: Facts) -> Decision:
    return await _first_objection(SENDER_RULES[ctx.session.channel], ctx, facts)


async def evaluate_recipient(ctx: RecipientContext, facts: Facts) -> Decision:
    return await _first_objection(RECIPIENT_RULES, ctx, facts)


async def evaluate_data(ctx: MessageContext, facts: Facts) -> Decision:
    """Rules on the content, once per recipient (a size limit may concern only some)."""
    return await _first_objection(MESSAGE_RULES, ctx, facts)
