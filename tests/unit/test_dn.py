"""MSS-TRUST-2: DN normalisation, for whitelist strings and certificate subjects alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from directory.dn import certificate_subject_dn, normalise_dn

GUYANE = "CN=mssante.ch-ouestguyane.fr,OU=1970300083,O={o},ST=Guyane (973),C=FR"
APICEM = "CN=mailin.interop-mssante.apicrypt.org,OU=343975235300037,O=APICEM,ST=Nord (59),C=FR"
APICEM_SPACED = (
    "CN=mailin.interop-mssante.apicrypt.org, OU=343975235300037, O=APICEM, ST=Nord (59), C=FR"
)


def _certificate(subject: list[tuple[x509.ObjectIdentifier, str]]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_trust_2_spaces_after_commas_normalise_equal() -> None:
    """MSS-TRUST-2: the list writes the same APICEM DN with and without spaces after commas."""
    assert normalise_dn(APICEM_SPACED) == normalise_dn(APICEM)


def test_trust_2_case_and_inner_whitespace_normalise_equal() -> None:
    assert normalise_dn(
        "cn=Mailin.Interop-MSSante.apicrypt.org , ou = 343975235300037,o=apicem,st=NORD  (59),c=fr"
    ) == normalise_dn(APICEM)


def test_trust_2_quoted_and_double_spaced_franck_joly_normalise_equal() -> None:
    """MSS-TRUST-2: the three spellings of the Franck-Joly DN in the 2025-03-13 list are one DN."""
    spellings = {
        normalise_dn(GUYANE.format(o='"CENTRE HOSPITALIER  FRANCK-JOLY"')),
        normalise_dn(GUYANE.format(o="CENTRE HOSPITALIER  FRANCK-JOLY")),
        normalise_dn(GUYANE.format(o='CENTRE HOSPITALIER "FRANCK-JOLY"')),
    }
    assert spellings == {
        "CN=mssante.ch-ouestguyane.fr,OU=1970300083,O=centre hospitalier franck-joly,"
        "ST=guyane (973),C=fr"
    }


def test_trust_2_apicem_and_apicem_sarl_stay_different() -> None:
    sarl = APICEM.replace("O=APICEM", "O=APICEM SARL")
    assert normalise_dn(sarl) != normalise_dn(APICEM)


def test_trust_2_order_of_rdns_is_kept() -> None:
    assert normalise_dn("CN=a,O=b") != normalise_dn("O=b,CN=a")


def test_trust_2_oid_forms_and_aliases() -> None:
    assert normalise_dn("2.5.4.3=x,2.5.4.11=y,2.5.4.10=z,2.5.4.7=l,2.5.4.8=s,2.5.4.6=FR") == (
        "CN=x,OU=y,O=z,L=l,ST=s,C=fr"
    )
    assert normalise_dn("OID.2.5.4.5=123,1.2.840.113549.1.9.1=A@B.fr") == (
        "SERIALNUMBER=123,EMAILADDRESS=a@b.fr"
    )
    assert normalise_dn("E=a@b.fr") == normalise_dn("emailAddress=A@B.FR")
    assert normalise_dn("1.2.3.4=x") == "1.2.3.4=x"


def test_trust_2_escapes_and_multi_valued_rdns() -> None:
    assert normalise_dn(r"CN=a\,b\+c,O=x") == r"CN=a\,b\+c,O=x"
    assert normalise_dn(r"CN=Rh\C3\B4ne") == "CN=rhône"
    assert normalise_dn('CN="a, b + c"') == r"CN=a\, b \+ c"
    assert normalise_dn("OU=y+CN=x,O=z") == normalise_dn("CN=x + OU=y,O=z") == "CN=x+OU=y,O=z"
    assert normalise_dn(r"CN=\#hash") == r"CN=\#hash"
    assert normalise_dn("CN=#0403414243") == "CN=#0403414243"
    assert normalise_dn("CN=a;O=b") == "CN=a,O=b"
    assert normalise_dn("") == ""


@pytest.mark.parametrize(
    "bad",
    ["CN", "=x", "CN=a,", "CN=a,,O=b", 'CN="open', 'CN="a"b', "CN=a\\", r"CN=\C3", "C N=x"],
)
def test_trust_2_malformed_dn_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="DN"):
        normalise_dn(bad)


@given(st.text(max_size=80))
def test_trust_2_any_text_gives_a_dn_or_value_error(text: str) -> None:
    try:
        normalised = normalise_dn(text)
    except ValueError:
        return
    assert normalise_dn(normalised) == normalised  # canonical forms are fixed points


ATTRIBUTE_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=20
)
OIDS = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(st.lists(st.tuples(st.sampled_from(sorted(OIDS)), ATTRIBUTE_VALUES), min_size=1, max_size=5))
def test_trust_2_cryptography_escaping_equals_quoted_spelling(
    pairs: list[tuple[str, str]],
) -> None:
    """MSS-TRUST-2: what cryptography escapes and the same DN written with quotes agree."""
    name = x509.Name([x509.NameAttribute(OIDS[kind], value) for kind, value in pairs])
    quoted = ",".join(f"{kind}={_quoted(value)}" for kind, value in reversed(pairs))
    canonical = normalise_dn(name.rfc4514_string())
    assert canonical == normalise_dn(quoted)
    assert normalise_dn(canonical) == canonical


def test_trust_2_certificate_subject_matches_listed_dn() -> None:
    """MSS-TRUST-2: a certificate whose subject is a listed DN compares equal to it."""
    cert = _certificate(
        [
            (NameOID.COUNTRY_NAME, "FR"),
            (NameOID.STATE_OR_PROVINCE_NAME, "Bouches-du-Rhône (13)"),
            (NameOID.ORGANIZATION_NAME, "INSTITUT PAOLI-CALMETTES"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "1130784127"),
            (NameOID.COMMON_NAME, "esm.ipc.unicancer.fr"),
        ]
    )
    listed = (
        "CN=esm.ipc.unicancer.fr,OU=1130784127,O=INSTITUT PAOLI-CALMETTES,"
        "ST=Bouches-du-Rhône (13),C=FR"
    )
    assert certificate_subject_dn(cert) == normalise_dn(listed)
    assert certificate_subject_dn(cert) != normalise_dn(listed.replace("1130784127", "1"))


def test_trust_2_certificate_with_commas_quotes_and_serial_number() -> None:
    cert = _certificate(
        [
            (NameOID.COUNTRY_NAME, "FR"),
            (NameOID.ORGANIZATION_NAME, 'CENTRE HOSPITALIER "FRANCK-JOLY", SITE A+B'),
            (NameOID.SERIAL_NUMBER, "42"),
            (NameOID.COMMON_NAME, "#mx.example.fr "),
        ]
    )
    listed = (
        r'CN=\#mx.example.fr,SERIALNUMBER=42,O="CENTRE HOSPITALIER  FRANCK-JOLY, SITE A+B",C=FR'
    )
    assert certificate_subject_dn(cert) == normalise_dn(listed)
    assert certificate_subject_dn(cert) == (
        r"CN=\#mx.example.fr,SERIALNUMBER=42,O=centre hospitalier franck-joly\, site a\+b,C=fr"
    )
