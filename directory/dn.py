"""Distinguished names written as strings, normalised so that equal certificates compare equal.

MSS-TRUST-2: the DNs of the ANS whitelist are written inconsistently (spaces after commas, case,
quotes, ``O=APICEM`` vs ``O=APICEM SARL``). ``normalise_dn`` parses an RFC 4514-like string
(backslash and hex escapes, quoted values, ``+`` multi-valued RDNs, spaces around ``,``/``=``, ``;``
as a legacy separator, ``OID.`` prefixes) and renders one canonical string: attribute types
upper-cased with well-known OIDs named, values with whitespace collapsed and casefolded, RDN order
kept (the attributes of a multi-valued RDN are sorted).

*(chosen)* Double quotes are dropped from values: the list spells one certificate both
``O="CENTRE HOSPITALIER  FRANCK-JOLY"`` and ``O=CENTRE HOSPITALIER "FRANCK-JOLY"``.

``certificate_subject_dn`` gives the same canonical string for a certificate subject. RDN order
matters: a subject built C, ST, O, OU, CN (the usual order) reads ``CN=…,OU=…,O=…,ST=…,C=…``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from cryptography import x509

_TYPE = re.compile(
    r"\s*(?:OID\.)?(?P<type>[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)\s*=\s*", re.ASCII | re.I
)
_HEX_VALUE = re.compile(r"#((?:[0-9A-Fa-f]{2})+)(?=\s*(?:[,;+]|$))", re.ASCII)
_PLAIN_RUN = re.compile(r"[^\\,;+]+|\\")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}", re.ASCII)
_SEPARATORS = ",;"
_VALUE_END = ",;+"  # an unescaped one ends a value
_TO_ESCAPE = frozenset('\\,+;"<>=')

_OID_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "TITLE",
    "2.5.4.42": "GIVENNAME",
    "2.5.4.97": "ORGANIZATIONIDENTIFIER",
    "1.2.840.113549.1.9.1": "EMAILADDRESS",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}
_ALIASES = {"E": "EMAILADDRESS", "EMAIL": "EMAILADDRESS", "GN": "GIVENNAME", "S": "ST"}


@dataclass(frozen=True, slots=True)
class _Atv:
    """One ``type=value`` pair, already normalised."""

    type: str
    value: str
    is_hex: bool = False

    def render(self) -> str:
        return f"{self.type}={self.value if self.is_hex else _escape(self.value)}"


class _Scanner:
    """A cursor over the DN text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def skip_spaces(self) -> None:
        while self.peek().isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, what: str) -> ValueError:
        return ValueError(f"malformed DN at character {self.pos + 1}: {what}")


@functools.lru_cache(maxsize=4096)
def normalise_dn(dn: str) -> str:
    """The canonical form of ``dn`` (MSS-TRUST-2); ``ValueError`` when it is not a DN."""
    return ",".join("+".join(atv.render() for atv in rdn) for rdn in _parse(dn))


def certificate_subject_dn(cert: x509.Certificate) -> str:
    """The canonical form of the certificate's subject, comparable with ``normalise_dn`` output."""
    return normalise_dn(cert.subject.rfc4514_string())


def _parse(dn: str) -> list[list[_Atv]]:
    scanner = _Scanner(dn)
    scanner.skip_spaces()
    if scanner.at_end():
        return []
    rdns = [_parse_rdn(scanner)]
    while not scanner.at_end():
        if scanner.take() not in _SEPARATORS:
            raise scanner.fail("expected ',' between RDNs")
        rdns.append(_parse_rdn(scanner))
    return rdns


def _parse_rdn(scanner: _Scanner) -> list[_Atv]:
    atvs = [_parse_atv(scanner)]
    while scanner.peek() == "+":
        scanner.take()
        atvs.append(_parse_atv(scanner))
    return sorted(atvs, key=lambda atv: (atv.type, atv.value))


def _parse_atv(scanner: _Scanner) -> _Atv:
    match = _TYPE.match(scanner.text, scanner.pos)
    if match is None:
        raise scanner.fail("expected an attribute type followed by '='")
    scanner.pos = match.end()
    attribute_type = _normalise_type(match["type"])
    hex_match = _HEX_VALUE.match(scanner.text, scanner.pos)
    if hex_match is not None:
        scanner.pos = hex_match.end()
        scanner.skip_spaces()
        return _Atv(attribute_type, "#" + hex_match[1].lower(), is_hex=True)
    raw = _quoted_value(scanner) if scanner.peek() == '"' else _plain_value(scanner)
    return _Atv(attribute_type, _normalise_value(raw))


def _normalise_type(name: str) -> str:
    if name[0].isdigit():
        oid = ".".join(str(int(part)) for part in name.split("."))
        return _OID_NAMES.get(oid, oid)
    upper = name.upper()
    return _ALIASES.get(upper, upper)


def _plain_value(scanner: _Scanner) -> str:
    out = bytearray()
    while (run := _PLAIN_RUN.match(scanner.text, scanner.pos)) is not None:
        scanner.pos = run.end()
        if run[0] == "\\":
            out += _escaped(scanner)
        else:
            out += run[0].encode("utf-8", "surrogatepass")
    return _decode(out, scanner)


def _quoted_value(scanner: _Scanner) -> str:
    scanner.take()  # the opening quote
    out = bytearray()
    while (char := scanner.take()) != '"':
        if not char:
            raise scanner.fail("unterminated quoted value")
        out += _escaped(scanner) if char == "\\" else char.encode("utf-8", "surrogatepass")
    scanner.skip_spaces()
    if not scanner.at_end() and scanner.peek() not in _VALUE_END:
        raise scanner.fail("text after a quoted value")
    return _decode(out, scanner)


def _escaped(scanner: _Scanner) -> bytes:
    """The bytes of an escape, the backslash already taken: ``\\XX`` hex or ``\\c`` literal."""
    pair = scanner.text[scanner.pos : scanner.pos + 2]
    if _HEX_PAIR.fullmatch(pair):
        scanner.pos += 2
        return bytes.fromhex(pair)
    char = scanner.take()
    if not char:
        raise scanner.fail("a backslash ends the DN")
    return char.encode("utf-8", "surrogatepass")


def _decode(raw: bytearray, scanner: _Scanner) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise scanner.fail("escaped bytes are not UTF-8") from None


def _normalise_value(value: str) -> str:
    # MSS-TRUST-2: collapse whitespace, fold case; (chosen) drop double quotes.
    text = unicodedata.normalize("NFC", value).replace('"', "")
    return unicodedata.normalize("NFC", " ".join(text.split()).casefold())


def _escape(value: str) -> str:
    escaped = "".join("\\" + char if char in _TO_ESCAPE else char for char in value)
    escaped = escaped.replace("\x00", "\\00")
    return "\\" + escaped if escaped.startswith("#") else escaped
