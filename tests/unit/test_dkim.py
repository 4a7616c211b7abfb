"""DKIM: keys and their DNS record, signing, verification through an injected lookup (no DNS),
the Authentication-Results field and the removal of forged ones."""

from __future__ import annotations

import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from mss.dkim import (
    DkimError,
    DkimKey,
    DkimResult,
    DkimStatus,
    authentication_results,
    dns_record,
    generate_key,
    load_key,
    save_key,
    sign,
    strip_forged_results,
    verify,
)
from mss.dkim.keys import key_from_pem, txt_strings
from mss.dkim.results import authserv_id_of
from mss.dkim.sign import signed_header_names
from mss.dkim.verify import MAX_SIGNATURES

DOMAIN = "operateur.test"
SELECTOR = "mss2026"
AUTHSERV = "mx.operateur.test"

MESSAGE = (
    b"From: Dr Alice Martin <alice.martin@operateur.test>\r\n"
    b"To: bob.durand@autre.test\r\n"
    b"Subject: Compte rendu\r\n"
    b"Date: Sun, 22 Nov 2026 04:40:00 +0000\r\n"
    b"Message-ID: <cr-1@operateur.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-MSS-INS: O\r\n"
    b"X-MSS-CODECDA: 11488-4\r\n"
    b"\r\n"
    b"Bonjour,\r\nvoici le compte rendu.\r\n"
)

Lookup = Callable[[str], Awaitable[list[bytes] | None]]


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return generate_key()


def record_value(zone_value: str) -> bytes:
    """The TXT record as a resolver returns it: the quoted strings concatenated."""
    return "".join(re.findall(r'"([^"]*)"', zone_value)).encode("ascii")


def lookup_for(records: dict[str, list[bytes] | None]) -> Lookup:
    async def lookup(name: str) -> list[bytes] | None:
        return records.get(name, [])

    return lookup


def published(key: DkimKey) -> Lookup:
    name, value = dns_record(SELECTOR, DOMAIN, key)
    return lookup_for({name: [record_value(value)]})


def signed(key: DkimKey, message: bytes = MESSAGE) -> bytes:
    return sign(message, domain=DOMAIN, selector=SELECTOR, key=key) + message


# --- keys ----------------------------------------------------------------------------------


def test_generated_rsa_key_is_2048_bits_and_round_trips_through_a_0600_file(
    key: DkimKey, tmp_path: Path
) -> None:
    path = tmp_path / "dkim.pem"
    save_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_key(path)
    assert loaded.kind == "rsa"
    assert loaded.public_b64() == key.public_b64()
    assert key.private_pem().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    assert key.private_key.key_size == 2048
    assert "BEGIN" not in repr(key)  # repr shows no key material


def test_save_key_refuses_to_overwrite_unless_asked(key: DkimKey, tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    with pytest.raises(FileExistsError):
        save_key(key, path)
    assert path.read_bytes() == b"old"
    save_key(key, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path).public_b64() == key.public_b64()


def test_key_from_pem_refuses_garbage_and_other_key_types() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(DkimError):
        key_from_pem(b"not a key")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(DkimError):
        key_from_pem(ec_pem)


def test_dns_record_name_and_value_split_in_255_char_strings(key: DkimKey) -> None:
    name, value = dns_record(SELECTOR, DOMAIN, key)
    assert name == f"{SELECTOR}._domainkey.{DOMAIN}"
    strings = re.findall(r'"([^"]*)"', value)
    assert len(strings) >= 2  # an RSA-2048 record is ~410 characters
    assert all(len(s) <= 255 for s in strings)
    assert value == " ".join(f'"{s}"' for s in strings)
    joined = "".join(strings)
    assert joined == f"v=DKIM1; k=rsa; p={key.public_b64()}"
    assert txt_strings("a" * 511) == ["a" * 255, "a" * 255, "a"]


@pytest.mark.parametrize("bad", ["", "a b", "-x", "x;y", 'x"'])
def test_dns_record_refuses_invalid_names(key: DkimKey, bad: str) -> None:
    with pytest.raises(DkimError):
        dns_record(bad, DOMAIN, key)
    with pytest.raises(DkimError):
        dns_record(SELECTOR, bad, key)


# --- signing -------------------------------------------------------------------------------


def test_signature_field_is_relaxed_sha256_crlf_terminated(key: DkimKey) -> None:
    field = sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=key)
    assert field.startswith(b"DKIM-Signature: ")
    assert field.endswith(b"\r\n")
    assert b"\n" not in field.replace(b"\r\n", b"")  # MSS-MSG-5: no bare line ending
    tags = dkim.util.parse_tag_value(field.split(b":", 1)[1])
    assert tags[b"a"] == b"rsa-sha256"
    assert tags[b"c"] == b"relaxed/relaxed"
    assert tags[b"d"] == DOMAIN.encode()
    assert tags[b"s"] == SELECTOR.encode()


def test_mss_headers_are_signed_and_oversigned_mss_msg_1(key: DkimKey) -> None:
    """MSS-MSG-1: X-MSS-* fields present are signed (and listed once more than present)."""
    field = sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=key)
    tags = dkim.util.parse_tag_value(field.split(b":", 1)[1])
    h = [name.strip() for name in re.sub(rb"\s+", b"", tags[b"h"]).split(b":")]
    assert h.count(b"x-mss-ins") == 2
    assert h.count(b"x-mss-codecda") == 2
    assert h.count(b"from") == 2
    assert h.count(b"cc") == 1  # absent: listed once, so none can be added
    assert b"x-mss-nil" not in h  # absent X-MSS-* fields are not listed


def test_signed_header_names_counts_occurrences() -> None:
    names = signed_header_names(
        ["From", "Received", "X-MSS-INS", "Received", "x-mss-ins", "X-Other"], ["From", "To"]
    )
    assert names == ["from", "from", "to", "x-mss-ins", "x-mss-ins", "x-mss-ins"]


def test_sign_does_not_change_the_message(key: DkimKey) -> None:
    """MSS-MSG-1: we only prepend; the message bytes after the field are the original."""
    original = bytes(MESSAGE)
    out = signed(key)
    assert out.endswith(original)
    assert original == MESSAGE


def test_sign_refuses_a_message_without_header_section(key: DkimKey) -> None:
    with pytest.raises(DkimError):
        sign(b"no header here\r\nat all\r\n", domain=DOMAIN, selector=SELECTOR, key=key)


# --- verifying -----------------------------------------------------------------------------


async def test_a_message_we_sign_verifies_with_dkimpy(key: DkimKey) -> None:
    results = await verify(signed(key), lookup=published(key))
    assert results == [DkimResult(DkimStatus.PASS, DOMAIN, SELECTOR, "", results[0].header_b)]
    assert results[0].header_b
    assert len(results[0].header_b) == 8
    field = authentication_results(AUTHSERV, results)
    assert field.startswith(f"Authentication-Results: {AUTHSERV};".encode())
    assert b"dkim=pass header.d=operateur.test header.s=mss2026" in field


async def test_plain_dkimpy_verify_accepts_our_signature(key: DkimKey) -> None:
    name, value = dns_record(SELECTOR, DOMAIN, key)

    def dnsfunc(qname: bytes, timeout: int = 5) -> bytes | None:
        return record_value(value) if qname.decode().rstrip(".") == name else None

    assert dkim.verify(signed(key), dnsfunc=dnsfunc) is True


async def test_ed25519_signature_verifies(tmp_path: Path) -> None:
    key = generate_key("ed25519")
    save_key(key, tmp_path / "ed.pem")
    reloaded = load_key(tmp_path / "ed.pem")
    name, value = dns_record(SELECTOR, DOMAIN, reloaded)
    assert "k=ed25519" in record_value(value).decode()
    field = sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=reloaded)
    assert b"a=ed25519-sha256" in field
    results = await verify(field + MESSAGE, lookup=lookup_for({name: [record_value(value)]}))
    assert [r.status for r in results] == [DkimStatus.PASS]


async def test_tampered_body_fails_and_the_header_says_so(key: DkimKey) -> None:
    tampered = signed(key).replace(b"compte rendu.", b"compte rendu modifie.")
    results = await verify(tampered, lookup=published(key))
    assert [(r.status, r.reason) for r in results] == [(DkimStatus.FAIL, "body hash mismatch")]
    assert b"dkim=fail" in authentication_results(AUTHSERV, results)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: Compte rendu", b"Subject: Compte rendu urgent"),
        (b"X-MSS-INS: O", b"X-MSS-INS: N"),  # MSS-MSG-1: the INS flag is protected
        (b"To: bob.durand", b"To: eve.durand"),
    ],
)
async def test_tampered_signed_header_fails(key: DkimKey, old: bytes, new: bytes) -> None:
    tampered = signed(key).replace(old, new)
    assert tampered != signed(key)
    results = await verify(tampered, lookup=published(key))
    assert [(r.status, r.reason) for r in results] == [(DkimStatus.FAIL, "signature mismatch")]
    assert b"dkim=fail" in authentication_results(AUTHSERV, results)


async def test_an_added_mss_header_breaks_the_signature(key: DkimKey) -> None:
    """Over-signing: a second X-MSS-INS added on the way is detected (MSS-MSG-1)."""
    out = signed(key)
    added = b"X-MSS-INS: N\r\n" + out
    results = await verify(added, lookup=published(key))
    assert [r.status for r in results] == [DkimStatus.FAIL]


async def test_refolded_headers_still_pass_relaxed(key: DkimKey) -> None:
    refolded = signed(key).replace(b"Subject: Compte rendu", b"Subject:   Compte\r\n\trendu")
    results = await verify(refolded, lookup=published(key))
    assert [r.status for r in results] == [DkimStatus.PASS]


async def test_unsigned_message_is_dkim_none(key: DkimKey) -> None:
    results = await verify(MESSAGE, lookup=published(key))
    assert results == []
    field = authentication_results(AUTHSERV, results)
    assert field == f"Authentication-Results: {AUTHSERV};\r\n\tdkim=none\r\n".encode()


async def test_missing_key_is_permerror(key: DkimKey) -> None:
    results = await verify(signed(key), lookup=lookup_for({}))
    assert [(r.status, r.domain, r.selector) for r in results] == [
        (DkimStatus.PERMERROR, DOMAIN, SELECTOR)
    ]
    assert b"dkim=permerror" in authentication_results(AUTHSERV, results)


async def test_key_lookup_failure_is_temperror(key: DkimKey) -> None:
    name, _value = dns_record(SELECTOR, DOMAIN, key)
    results = await verify(signed(key), lookup=lookup_for({name: None}))
    assert [r.status for r in results] == [DkimStatus.TEMPERROR]
    assert b"dkim=temperror" in authentication_results(AUTHSERV, results)


async def test_lookup_that_raises_is_temperror(key: DkimKey) -> None:
    async def broken(name: str) -> list[bytes] | None:
        raise TimeoutError(name)

    results = await verify(signed(key), lookup=broken)
    assert [r.status for r in results] == [DkimStatus.TEMPERROR]


@pytest.mark.parametrize(
    "records",
    [
        [b"v=DKIM1; k=rsa; p="],  # revoked (RFC 6376 §3.6.1)
        [b"v=DKIM1; k=rsa; p=bm90IGEga2V5"],
        [b"garbage without tags"],
        [b"v=DKIM1; p=AAAA", b"v=DKIM1; p=BBBB"],  # several records
    ],
)
async def test_unusable_key_record_is_permerror(key: DkimKey, records: list[bytes]) -> None:
    name, _value = dns_record(SELECTOR, DOMAIN, key)
    results = await verify(signed(key), lookup=lookup_for({name: records}))
    assert [r.status for r in results] == [DkimStatus.PERMERROR]


async def test_key_of_another_signer_fails(key: DkimKey) -> None:
    other = generate_key()
    results = await verify(signed(key), lookup=published(other))
    assert [(r.status, r.reason) for r in results] == [(DkimStatus.FAIL, "signature mismatch")]


async def test_rsa_sha1_signature_is_permerror_rfc_8301(key: DkimKey) -> None:
    field = dkim.sign(
        MESSAGE,
        SELECTOR.encode(),
        DOMAIN.encode(),
        key.signing_secret(),
        signature_algorithm=b"rsa-sha1",
    )
    results = await verify(field + MESSAGE, lookup=published(key))
    assert [(r.status, r.reason) for r in results] == [(DkimStatus.PERMERROR, "algorithm refused")]


async def test_signatures_beyond_the_limit_are_not_checked(key: DkimKey) -> None:
    """A hostile sender stacking signatures costs us at most MAX_SIGNATURES checks."""
    one = sign(MESSAGE, domain=DOMAIN, selector=SELECTOR, key=key)
    results = await verify(one * (MAX_SIGNATURES + 3) + MESSAGE, lookup=published(key))
    assert len(results) == MAX_SIGNATURES
    assert {r.status for r in results} == {DkimStatus.PASS}


async def test_malformed_signature_field_is_neutral(key: DkimKey) -> None:
    broken = b"DKIM-Signature: v=1; a=rsa-sha256; d=operateur.test; s=mss2026\r\n" + MESSAGE
    results = await verify(broken, lookup=published(key))
    assert [(r.status, r.domain) for r in results] == [(DkimStatus.NEUTRAL, DOMAIN)]


async def test_hostile_d_and_s_are_not_looked_up_nor_rendered(key: DkimKey) -> None:
    asked: list[str] = []

    async def spy(name: str) -> list[bytes] | None:
        asked.append(name)
        return []

    field = b'DKIM-Signature: v=1; a=rsa-sha256; d=x"\r\n X-Evil: 1; s=a b; h=from; bh=; b=\r\n'
    results = await verify(field + MESSAGE, lookup=spy)
    assert asked == []
    assert [r.status for r in results] == [DkimStatus.NEUTRAL]
    rendered = authentication_results(AUTHSERV, results)
    assert b"Evil" not in rendered
    assert rendered.count(b"\r\n") == 2


async def test_two_signatures_give_two_results(key: DkimKey) -> None:
    once = signed(key)
    other = generate_key()
    twice = sign(once, domain="autre.test", selector="s1", key=other) + once
    name, value = dns_record("s1", "autre.test", other)
    ours, ours_value = dns_record(SELECTOR, DOMAIN, key)
    lookup = lookup_for({name: [record_value(value)], ours: [record_value(ours_value)]})
    results = await verify(twice, lookup=lookup)
    assert [(r.status, r.domain) for r in results] == [
        (DkimStatus.PASS, "autre.test"),
        (DkimStatus.PASS, DOMAIN),
    ]
    field = authentication_results(AUTHSERV, results)
    assert field.count(b"dkim=pass") == 2


def test_authentication_results_refuses_a_bad_authserv_id() -> None:
    with pytest.raises(DkimError):
        authentication_results("mx.example;\r\nX-Evil: 1", [])


# --- forged Authentication-Results -----------------------------------------------------------


FORGED = (
    b"Received: from somewhere\r\n"
    b"Authentication-Results: mx.operateur.test; dkim=pass header.d=operateur.test\r\n"
    b"authentication-results :  (comment (nested)) MX.Operateur.TEST 1;\r\n"
    b"\tdkim=pass\r\n"
    b'Authentication-Results: "mx.operateur.test"; spf=pass\r\n'
    b"Authentication-Results: mx.autre.test; dkim=fail\r\n"
    b"Authentication-Results: mx.operateur.test.evil.test; dkim=pass\r\n"
    b"From: a@autre.test\r\n"
    b"\r\n"
    b"Authentication-Results: mx.operateur.test; body line is not a header\r\n"
)


def test_forged_authentication_results_with_our_authserv_id_are_stripped() -> None:
    out = strip_forged_results(FORGED, AUTHSERV)
    assert out == (
        b"Received: from somewhere\r\n"
        b"Authentication-Results: mx.autre.test; dkim=fail\r\n"
        b"Authentication-Results: mx.operateur.test.evil.test; dkim=pass\r\n"
        b"From: a@autre.test\r\n"
        b"\r\n"
        b"Authentication-Results: mx.operateur.test; body line is not a header\r\n"
    )


def test_strip_keeps_a_message_without_ours_byte_for_byte() -> None:
    assert strip_forged_results(MESSAGE, AUTHSERV) == MESSAGE
    no_body = b"Subject: x\r\nAuthentication-Results: mx.operateur.test; none"
    assert strip_forged_results(no_body, AUTHSERV) == b"Subject: x\r\n"
    assert strip_forged_results(b"", AUTHSERV) == b""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b" example.org; dkim=pass", b"example.org"),
        (b" (c) example.org 1; none", b"example.org"),
        (b'\r\n\t"quoted\\.id"; none', b"quoted.id"),
        (b" ; none", b""),
        (b' "unterminated', b""),
        (b" (unclosed comment example.org", b""),
    ],
)
def test_authserv_id_parsing(value: bytes, expected: bytes) -> None:
    assert authserv_id_of(value) == expected


async def test_a_signed_message_keeps_passing_after_stripping(key: DkimKey) -> None:
    message = MESSAGE.replace(
        b"\r\n\r\n", b"\r\nAuthentication-Results: mx.operateur.test; dkim=pass\r\n\r\n", 1
    )
    out = strip_forged_results(signed(key, message), AUTHSERV)
    assert b"Authentication-Results" not in out
    results = await verify(out, lookup=published(key))
    assert [r.status for r in results] == [DkimStatus.PASS]


_HEADERISH = st.lists(
    st.sampled_from(
        [
            b"Authentication-Results:",
            b"mx.operateur.test",
            b"MX.OPERATEUR.TEST",
            b" ",
            b"\t",
            b"\r\n",
            b"\n",
            b";",
            b"(",
            b")",
            b'"',
            b"\\",
            b"x",
            b"From: a",
        ]
    )
).map(b"".join)


@given(st.one_of(st.binary(), _HEADERISH))
def test_strip_forged_results_never_raises_and_only_removes_whole_fields(raw: bytes) -> None:
    out = strip_forged_results(raw, AUTHSERV)
    assert len(out) <= len(raw)
    if b"authentication-results" not in raw.lower():
        assert out == raw
    assert strip_forged_results(out, AUTHSERV) == out  # idempotent


@given(st.binary())
def test_authserv_id_of_any_bytes_never_raises(raw: bytes) -> None:
    found = authserv_id_of(raw)
    assert isinstance(found, bytes)
    assert len(found) <= len(raw)
