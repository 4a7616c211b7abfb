"""The MX's DKIM step on its own (``InboundDkim``): what it strips, when it verifies, and that a
broken verifier never refuses mail (the protocol tests are tests/protocol/test_dkim_inbound.py)."""

from __future__ import annotations

import pytest

from mss.dkim import DkimError, InboundDkim

AUTHSERV = "mx.operateur.test"
MESSAGE = b"From: a@autre.test\r\nSubject: x\r\n\r\nbody\r\n"
FORGED = b"Authentication-Results: mx.operateur.test; dkim=pass\r\n"


async def no_lookup(_name: str) -> list[bytes] | None:
    raise AssertionError("no lookup expected")


async def test_submission_is_stripped_not_verified() -> None:
    prepared = await InboundDkim(AUTHSERV, lookup=no_lookup).prepare(
        FORGED + MESSAGE, verify_dkim=False
    )
    assert prepared.message == MESSAGE
    assert prepared.results_field == b""


async def test_unsigned_mx_message_gets_dkim_none_and_is_not_copied() -> None:
    prepared = await InboundDkim(AUTHSERV, lookup=no_lookup).prepare(MESSAGE, verify_dkim=True)
    assert prepared.message is MESSAGE
    assert (
        prepared.results_field == f"Authentication-Results: {AUTHSERV};\r\n\tdkim=none\r\n".encode()
    )


async def test_verification_can_be_switched_off() -> None:
    inbound = InboundDkim(AUTHSERV, lookup=no_lookup, verify_inbound=False)
    prepared = await inbound.prepare(FORGED + MESSAGE, verify_dkim=True)
    assert (prepared.message, prepared.results_field) == (MESSAGE, b"")


async def test_large_message_with_forged_field_is_stripped_in_a_thread() -> None:
    big = FORGED + MESSAGE + b"x" * (2 * 1024 * 1024) + b"\r\n"
    prepared = await InboundDkim(AUTHSERV, lookup=no_lookup).prepare(big, verify_dkim=False)
    assert prepared.message == big[len(FORGED) :]


async def test_a_verifier_bug_gives_temperror_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("mss.dkim.inbound.verify", broken)
    prepared = await InboundDkim(AUTHSERV, lookup=no_lookup).prepare(MESSAGE, verify_dkim=True)
    assert b"dkim=temperror" in prepared.results_field


def test_an_unusable_authserv_id_is_refused_at_start() -> None:
    with pytest.raises(DkimError):
        InboundDkim("not a name;", lookup=no_lookup)
