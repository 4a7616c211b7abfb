"""The rules, one small object each. ``check`` returns a Decision to stop, or None to go on."""

from __future__ import annotations

from typing import Protocol, TypeVar

from directory.models import BalKind, BalState
from mss.policy.decision import Decision, Reason
from mss.policy.facts import (
    Channel,
    Facts,
    MessageContext,
    RecipientContext,
    SenderContext,
)

C_contra = TypeVar("C_contra", contravariant=True)


class Rule(Protocol[C_contra]):
    name: str

    async def check(self, ctx: C_contra, facts: Facts) -> Decision | None: ...


# --- MAIL FROM --------------------------------------------------------------------------------


class MxRequiresTls:
    """MSS-TRUST-3: STARTTLS is mandatory before MAIL on the MX."""

    name = "mx_requires_tls"

    async def check(self, ctx: SenderContext, facts: Facts) -> Decision | None:
        if ctx.session.tls:
            return None
        return Decision.reject(Reason.TLS_REQUIRED, "5.7.0")


class MxRequiresClientCertificate:
    """MSS-TRUST-3: the peer operator presents a certificate chaining to our trust anchors."""

    name = "mx_requires_client_certificate"

    async def check(self, ctx: SenderContext, facts: Facts) -> Decision | None:
        if ctx.session.peer_dn:
            return None
        return Decision.reject(Reason.CLIENT_CERTIFICATE_REQUIRED, "5.7.1")


class MxSenderDomainWhitelisted:
    """MSS-TRUST-3: the envelope sender's domain is on the whitelist and lists the peer's DN.

    A null sender (a peer's DSN) needs no domain: the certificate was checked at TLS and the
    peer's own domain is checked on its other messages. *(chosen)*
    """

    name = "mx_sender_domain_whitelisted"

    async def check(self, ctx: SenderContext, facts: Facts) -> Decision | None:
        if ctx.sender is None:
            return None
        listed = await facts.whitelisted_dns(ctx.sender.domain_name)
        if not listed:
            return Decision.reject(Reason.SENDER_DOMAIN_NOT_WHITELISTED, "5.7.1")
        if ctx.session.peer_dn not in listed:
            return Decision.reject(Reason.CERTIFICATE_NOT_LISTED, "5.7.1")
        return None


class SubmissionRequiresAuthentication:
    name = "submission_requires_authentication"

    async def check(self, ctx: SenderContext, facts: Facts) -> Decision | None:
        if ctx.session.user:
            return None
        return Decision.reject(Reason.AUTHENTICATION_REQUIRED, "5.7.0")


class SenderIsOwnBal:
    """MSS-BAL-2: the envelope sender is the user's own BAL or a BAL it is a delegate of."""

    name = "sender_is_own_bal"

    async def check(self, ctx: SenderContext, facts: Facts) -> Decision | None:
        user = ctx.session.user
        if ctx.sender is None or user is None:
            return Decision.reject(Reason.NULL_SENDER_NOT_ALLOWED, "5.7.1")
        if not ctx.sender.hosted or not await facts.may_act_for(user, ctx.sender.address):
            return Decision.reject(Reason.SENDER_NOT_AUTHORISED, "5.7.1")
        return None


class SenderBalActive:
    """MSS-BAL-4: a suspended BAL sends nothing for now; a closed one never again."""

    name = "sender_bal_active"

    async def check(self, ctx: SenderContext, facts: Facts) -> Decision | None:
        mailbox = ctx.sender.mailbox if ctx.sender else None
        if mailbox is None or mailbox.state is BalState.ACTIVE:
            return None
        if mailbox.state is BalState.SUSPENDED:
            return Decision.defer(Reason.SENDER_SUSPENDED, "4.2.1")
        return Decision.reject(Reason.SENDER_CLOSED, "5.7.1")


# --- RCPT TO ----------------------------------------------------------------------------------


class RecipientCount:
    name = "recipient_count"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        if ctx.accepted_so_far < ctx.limits.max_recipients:
            return None
        return Decision.defer(Reason.TOO_MANY_RECIPIENTS, "4.5.3")  # RFC 5321 §4.5.3.1.10


class RemoteRecipient:
    """MSS-TRUST-4: operators never relay for each other (no open relay on the MX); users may
    write to whitelisted domains only, refused at RCPT otherwise, before anything is queued.
    An accepted remote recipient goes on through the rules that concern the sender (a
    patient writes only where granted, MSS-PAT-2), then to the outbound queue."""

    name = "remote_recipient"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        if ctx.recipient.hosted:
            return None
        if ctx.session.channel is Channel.MX:
            return Decision.reject(Reason.RELAY_DENIED, "5.7.1")
        if not await facts.whitelisted_dns(ctx.recipient.domain_name):
            return Decision.reject(Reason.RECIPIENT_DOMAIN_NOT_WHITELISTED, "5.7.1")
        return None


class RecipientExists:
    """MSS-PAT-1 (unknown INS) and MSS-BAL-4: unknown mailboxes are refused with 5.1.1.
    Remote addresses are the peer operator's to check (``RemoteRecipient`` came first)."""

    name = "recipient_exists"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        if ctx.recipient.mailbox or ctx.recipient.patient or not ctx.recipient.hosted:
            return None
        return Decision.reject(Reason.RECIPIENT_UNKNOWN, "5.1.1")


class RecipientActive:
    """MSS-BAL-4: suspended refuses for now (4.2.1), closed refuses for good (5.1.1)."""

    name = "recipient_active"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        mailbox = ctx.recipient.mailbox
        if mailbox is None or mailbox.state is BalState.ACTIVE:
            return None
        if mailbox.state is BalState.SUSPENDED:
            return Decision.defer(Reason.RECIPIENT_SUSPENDED, "4.2.1")
        return Decision.reject(Reason.RECIPIENT_CLOSED, "5.1.1")


class NoReplyRefusesMail:
    """MSS-BAL-3: an applicative no-reply BAL sends but never receives."""

    name = "no_reply_refuses_mail"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        mailbox = ctx.recipient.mailbox
        if mailbox and mailbox.kind is BalKind.APP and mailbox.no_reply:
            return Decision.reject(Reason.NO_REPLY_MAILBOX, "5.7.1")
        return None


class PatientProfileOpen:
    """MSS-PAT-1: a patient mailbox receives only while the profile is active or auto-created."""

    name = "patient_profile_open"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        patient = ctx.recipient.patient
        if patient is None or patient.state.is_open:
            return None
        return Decision.reject(Reason.PATIENT_PROFILE_NOT_OPEN, "5.1.1")


class PatientDeclaredSize:
    """MSS-PAT-6: a SIZE= over the patient limit is refused at RCPT already."""

    name = "patient_declared_size"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        size = ctx.declared_size
        if ctx.recipient.patient and size is not None and size > ctx.limits.patient_max_size:
            return Decision.reject(Reason.MESSAGE_TOO_BIG_FOR_PATIENT, "5.3.4")
        return None


class PatientWritesToGrantedOnly:
    """MSS-PAT-2: a patient writes only to an address that wrote first and did not end the
    exchange (MSS-PAT-3); MSS-PAT-4: or to a pharmacy."""

    name = "patient_writes_to_granted_only"

    async def check(self, ctx: RecipientContext, facts: Facts) -> Decision | None:
        sender = ctx.sender
        if sender is None or not sender.is_patient_address:
            return None
        mailbox = ctx.recipient.mailbox
        if mailbox is not None and mailbox.pharmacy:
            return None
        if await facts.has_grant(sender.address, ctx.recipient.address):
            return None
        return Decision.reject(Reason.PATIENT_NOT_AUTHORISED, "5.7.1")


# --- DATA ---------------------------------------------------------------------------------------


class NoBareLineEndings:
    """MSS-MSG-5: bare CR or LF is refused (SMTP smuggling class of bugs)."""

    name = "no_bare_line_endings"

    async def check(self, ctx: MessageContext, facts: Facts) -> Decision | None:
        if ctx.bare_line_ending:
            return Decision.reject(Reason.BARE_LINE_ENDING, "5.5.2")
        return None


class PatientMessageSize:
    """MSS-PAT-6: messages to a patient are at most 25 MB."""

    name = "patient_message_size"

    async def check(self, ctx: MessageContext, facts: Facts) -> Decision | None:
        if ctx.recipient.patient and ctx.size > ctx.limits.patient_max_size:
            return Decision.reject(Reason.MESSAGE_TOO_BIG_FOR_PATIENT, "5.3.4")
        return None
