"""MSS-TRUST-1 and SEC-IN-1: parsing the ANS whitelist, and refusing hostile or unusable XML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from lxml import etree

from directory import whitelist as whitelist_module
from directory.dn import normalise_dn
from directory.errors import WhitelistError
from directory.whitelist import NAMESPACE, parse_whitelist
from tests.conftest import DATA, FIXTURES

SNAPSHOT = FIXTURES / "listeblanchemssante-2025-03-13.xml"
SAMPLE = DATA / "whitelist-sample.xml"

ENTRY = """<Domaine><Nom>{name}</Nom><Description>d</Description>
<DNCertificatOperateur>{dn}</DNCertificatOperateur>
<ResponsableContact>r</ResponsableContact><SupportContact>s</SupportContact>
<DateMAJ>2024-01-01T00:00:00Z</DateMAJ></Domaine>"""
GOOD_ENTRY = ENTRY.format(name="Peer.Example.fr", dn="CN=mx.peer.example.fr, O=Peer, C=FR")


def _document(entries: str, *, namespace: bool = True, prolog: str = "") -> bytes:
    xmlns = f' xmlns="{NAMESPACE}"' if namespace else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<ListeBlancheMSSante{xmlns}>'
        f"<DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>"
        f"<ListeDomaines>{entries}</ListeDomaines></ListeBlancheMSSante>"
    ).encode()


@pytest.mark.skipif(not SNAPSHOT.exists(), reason="shared fixtures not available")
def test_trust_1_snapshot_of_2025_03_13_loads_whole() -> None:
    """MSS-TRUST-1: the real snapshot has 6,554 entries for 5,002 domains."""
    whitelist = parse_whitelist(SNAPSHOT.read_bytes())
    assert len(whitelist.entries) == 6554
    assert len({entry.domain for entry in whitelist.entries}) == 5002
    assert whitelist.generated_at == datetime(2025, 3, 13, 14, 54, 10, tzinfo=UTC)


def test_trust_1_sample_loads() -> None:
    whitelist = parse_whitelist(SAMPLE.read_bytes())
    assert whitelist.generated_at == datetime(2025, 3, 13, 14, 54, 10, tzinfo=UTC)
    assert len(whitelist.entries) == 9
    by_domain: dict[str, set[str]] = {}
    for entry in whitelist.entries:
        by_domain.setdefault(entry.domain, set()).add(entry.certificate_dn)
    assert len(by_domain) == 5
    # MSS-TRUST-2: two certificates for one domain, APICEM and APICEM SARL kept apart ...
    assert by_domain["interop-mssante.apicrypt.org"] == {
        normalise_dn(
            "CN=mailin2.interop-mssante.apicrypt.org,OU=343975235300037,O=APICEM SARL,"
            "ST=Nord (59),C=FR"
        ),
        normalise_dn(
            "CN=mailin.interop-mssante.apicrypt.org,OU=343975235300037,O=APICEM,ST=Nord (59),C=FR"
        ),
    }
    # ... the spaced spelling of the other domain gives the same two DNs ...
    assert by_domain["mssante.apicrypt.org"] == by_domain["interop-mssante.apicrypt.org"]
    # ... and the three spellings of the Franck-Joly certificate are one DN.
    assert len(by_domain["ch-ouestguyane.mssante.fr"]) == 1


def test_trust_1_entry_fields() -> None:
    (entry,) = parse_whitelist(_document(GOOD_ENTRY)).entries
    assert entry.domain == "peer.example.fr"
    assert entry.certificate_dn == "CN=mx.peer.example.fr,O=peer,C=fr"
    assert (entry.description, entry.responsible_contact, entry.support_contact) == ("d", "r", "s")
    assert entry.updated == "2024-01-01T00:00:00Z"


def test_trust_1_without_namespace() -> None:
    whitelist = parse_whitelist(_document(GOOD_ENTRY, namespace=False))
    assert [entry.domain for entry in whitelist.entries] == ["peer.example.fr"]


def test_trust_1_missing_generation_date_is_none() -> None:
    data = _document(GOOD_ENTRY).replace(
        b"<DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>", b""
    )
    assert parse_whitelist(data).generated_at is None


def test_trust_1_missing_closing_root_tag_is_tolerated() -> None:
    """(chosen) The 2025-03-13 snapshot ends after ``</ListeDomaines>``: accepted."""
    data = _document(GOOD_ENTRY).replace(b"</ListeBlancheMSSante>", b"\n")
    assert len(parse_whitelist(data).entries) == 1


@pytest.mark.parametrize(
    "cut",
    [
        lambda data: data[: len(data) // 2],  # in the middle of an entry
        lambda data: data[: data.rindex(b"</ListeDomaines>")],  # after the last </Domaine>
        lambda data: data[:10],
    ],
)
def test_trust_1_truncated_xml_refused(cut: Callable[[bytes], bytes]) -> None:
    data = _document(GOOD_ENTRY + GOOD_ENTRY.replace("Peer.", "Other."))
    with pytest.raises(WhitelistError, match="well-formed"):
        parse_whitelist(cut(data))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "well-formed"),
        (b"not xml at all", "well-formed"),
        (b'{"ListeBlancheMSSante": []}', "well-formed"),
        (b"<html><body>503</body></html>", "root element"),
        (f'<Other xmlns="{NAMESPACE}"/>'.encode(), "root element"),
        (b'<ListeBlancheMSSante xmlns="urn:other"/>', "root element"),
        (f'<ListeBlancheMSSante xmlns="{NAMESPACE}"/>'.encode(), "no ListeDomaines"),
        (_document(""), "no entries"),
        (_document("<!-- nothing -->"), "no entries"),
        (_document(ENTRY.format(name="", dn="CN=x")), "no Nom"),
        (_document(ENTRY.format(name="a.fr", dn="")), "no DNCertificatOperateur"),
        (_document(ENTRY.format(name="a.fr", dn="CN=a,,O=b")), "bad certificate DN"),
        (_document(GOOD_ENTRY).replace(b"2025-03-13T14:54:10Z", b"yesterday"), "not a date"),
    ],
)
def test_trust_1_unusable_lists_refused(data: bytes, why: str) -> None:
    """MSS-TRUST-1: an empty list, a wrong root, an entry without Nom or DN are refused."""
    with pytest.raises(WhitelistError, match=why):
        parse_whitelist(data)


def test_trust_1_size_and_entry_caps() -> None:
    data = _document(GOOD_ENTRY * 3)
    with pytest.raises(WhitelistError, match="larger than"):
        parse_whitelist(data, max_bytes=len(data) - 1)
    with pytest.raises(WhitelistError, match="more than 2 entries"):
        parse_whitelist(data, max_entries=2)
    assert len(parse_whitelist(data, max_entries=3).entries) == 3


XXE = '<!DOCTYPE ListeBlancheMSSante [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
LAUGHS = (
    "<!DOCTYPE ListeBlancheMSSante [<!ENTITY a0 'ha'>"
    + "".join(f"<!ENTITY a{i} '{('&a' + str(i - 1) + ';') * 10}'>" for i in range(1, 10))
    + "]>"
)


@pytest.mark.parametrize(
    "data",
    [
        _document(GOOD_ENTRY.replace("Description>d<", "Description>&x;<"), prolog=XXE),
        _document(GOOD_ENTRY.replace("Description>d<", "Description>&a9;<"), prolog=LAUGHS),
        _document(GOOD_ENTRY, prolog="<!DOCTYPE ListeBlancheMSSante>"),
        _document(GOOD_ENTRY, prolog='<!DOCTYPE ListeBlancheMSSante SYSTEM "http://x/l.dtd">'),
    ],
    ids=["xxe", "billion-laughs", "doctype", "external-dtd"],
)
def test_sec_in_1_doctype_and_entities_refused(data: bytes) -> None:
    """SEC-IN-1: no DTD, no entities: XXE and billion laughs never get expanded."""
    with pytest.raises(WhitelistError, match="DOCTYPE"):
        parse_whitelist(data)


def test_sec_in_1_doctype_hidden_in_utf16_refused() -> None:
    """SEC-IN-1: the byte scan misses a UTF-16 DOCTYPE; the parsed document is checked too."""
    text = _document(GOOD_ENTRY.replace("Description>d<", "Description>&x;<"), prolog=XXE)
    data = text.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert b"<!DOCTYPE" not in data
    with pytest.raises(WhitelistError, match="DOCTYPE"):
        parse_whitelist(data)


def test_sec_in_1_parser_itself_never_expands_entities() -> None:
    """SEC-IN-1, defence in depth: the lxml parser leaves entities unexpanded, reads no file."""
    data = _document(GOOD_ENTRY.replace("Description>d<", "Description>&x;<"), prolog=XXE)
    root = etree.fromstring(data, whitelist_module._parser())
    assert b"root:" not in etree.tostring(root)


def test_sec_in_1_parser_itself_never_explodes() -> None:
    """SEC-IN-1, defence in depth: billion laughs is refused or left unexpanded by the parser."""
    laughs = _document(GOOD_ENTRY.replace("Description>d<", "Description>&a9;<"), prolog=LAUGHS)
    try:
        root = etree.fromstring(laughs, whitelist_module._parser())
    except etree.XMLSyntaxError:
        return  # libxml2's amplification guard
    assert len(etree.tostring(root)) < 10_000
