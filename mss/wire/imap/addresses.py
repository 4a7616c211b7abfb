"""RFC 5322 address lists as IMAP ENVELOPE addresses (RFC 3501 §7.4.2).

Each address is ``(name adl mailbox host)``: the display name (or, lacking one, the text of a
trailing comment, as in ``user@domain (Real Name)``), the obsolete source route (``@a,@b``), the
local part and the domain. A group ``name: members;`` becomes ``(NIL NIL name NIL)``, the
members, then ``(NIL NIL NIL NIL)``. Encoded words stay encoded. A mailbox lacking its domain
gets ``MISSING_DOMAIN`` (a NIL host would read as the start of a group).

A small tokenizer, tolerant of junk: it never raises, whatever the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mss.wire.imap.response import Value

MISSING_DOMAIN = "MISSING_DOMAIN"
MISSING_MAILBOX = "MISSING_MAILBOX"
_SPECIALS = '()<>[]:;@\\,."'
Address = tuple[str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "atom", "quoted", "comment", "special", "domain-literal"
    text: str
    spaced: bool = False  # white space before it


def _read_delimited(text: str, at: int, close: str, *, nests: bool) -> tuple[str, int]:
    """The content from ``text[at]`` (just past the opening char) to the matching ``close``."""
    out: list[str] = []
    depth = 1
    opening = "(" if nests else ""
    while at < len(text):
        char = text[at]
        if char == "\\" and at + 1 < len(text):
            out.append(text[at + 1])
            at += 2
            continue
        if nests and char == opening:
            depth += 1
        elif char == close:
            depth -= 1
            if depth == 0:
                return "".join(out), at + 1
        out.append(char)
        at += 1
    return "".join(out), at


def tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    at = 0
    spaced = False
    while at < len(text):
        char = text[at]
        if char in " \t\r\n":
            at += 1
            spaced = True
            continue
        if char == '"':
            value, at = _read_delimited(text, at + 1, '"', nests=False)
            tokens.append(_Token("quoted", value, spaced))
        elif char == "(":
            value, at = _read_delimited(text, at + 1, ")", nests=True)
            tokens.append(_Token("comment", value, spaced))
        elif char == "[":
            value, at = _read_delimited(text, at + 1, "]", nests=False)
            tokens.append(_Token("domain-literal", f"[{value}]", spaced))
        elif char in _SPECIALS:
            tokens.append(_Token("special", char, spaced))
            at += 1
        else:
            start = at
            while at < len(text) and text[at] not in _SPECIALS and text[at] not in " \t\r\n":
                at += 1
            tokens.append(_Token("atom", text[start:at], spaced))
        spaced = False
    return tokens


@dataclass
class _Mailbox:
    phrase: list[str] = field(default_factory=list)
    route: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    comment: str | None = None

    def value(self) -> Address | None:
        local = "".join(self.local)
        domain = "".join(self.domain)
        name = " ".join(self.phrase) or self.comment
        if not local and not domain:  # a comment, or "<>": no address
            return None
        adl = ",".join(self.route) or None
        return (name or None, adl, local or MISSING_MAILBOX, domain or MISSING_DOMAIN)


def _angle(tokens: list[_Token], at: int, box: _Mailbox) -> int:
    """``<[@route,@route:]local@domain>`` starting after ``<``; returns the index after ``>``."""
    part: list[str] = []
    route: list[str] = []
    while at < len(tokens):
        token = tokens[at]
        at += 1
        if token.kind == "comment":
            continue
        if token.text == ">" and token.kind == "special":
            break
        if token.text == ":" and token.kind == "special" and part and part[0] == "@":
            route.append("".join(part))  # the end of an obsolete route
            part = []
            continue
        if token.text == "," and token.kind == "special" and part and part[0] == "@":
            route.append("".join(part))
            part = []
            continue
        part.append(token.text)
    if part and part[0] == "@" and not route:  # "<@x>": no local part
        part = part[1:]
    text = "".join(part)
    local, at_sign, domain = text.rpartition("@")
    if not at_sign:
        local, domain = text, ""
    box.local, box.domain, box.route = [local], [domain], route
    return at


def _mailbox(tokens: list[_Token], at: int, stop: str) -> tuple[_Mailbox, int]:
    """One mailbox up to ``,`` (or ``stop``); returns it and the index of the separator."""
    box = _Mailbox()
    words: list[_Token] = []
    while at < len(tokens):
        token = tokens[at]
        if token.kind == "special" and token.text in ("," + stop):
            break
        if token.kind == "special" and token.text == "<":
            box.phrase = _join_phrase(words)
            at = _angle(tokens, at + 1, box)
            words = []
            continue
        if token.kind == "comment":
            if box.comment is None and token.text.strip():
                box.comment = " ".join(token.text.split())
        else:
            words.append(token)
        at += 1
    if words:  # an addr-spec without angle brackets
        text = "".join(w.text for w in words)
        local, at_sign, domain = text.rpartition("@")
        if not at_sign:
            local, domain = text, ""
        box.local.append(local)
        box.domain.append(domain)
    return box, at


def _join_phrase(words: list[_Token]) -> list[str]:
    """Display-name words, to be joined by single spaces: runs of white space (or a comment)
    become one space, what was written together stays together (``J.R.R.``, ``Q. Public``)."""
    out: list[str] = []
    gap = False
    for word in words:
        if word.kind == "comment":
            gap = True
            continue
        if out and not (gap or word.spaced):
            out[-1] += word.text
        else:
            out.append(word.text)
        gap = False
    return out


def _group_name(tokens: list[_Token], at: int) -> tuple[str, int] | None:
    """If a group starts at ``at`` (``phrase :``), its name and the index after the colon."""
    words: list[_Token] = []
    while at < len(tokens):
        token = tokens[at]
        if token.kind == "special" and token.text == ":":
            return " ".join(_join_phrase(words)), at + 1
        if token.kind == "special" and token.text not in ".":
            return None
        words.append(token)
        at += 1
    return None


def address_list(text: str | None) -> Value:
    """The ENVELOPE form of an address header; NIL when it holds no address."""
    if text is None:
        return None
    tokens = tokenize(text)
    out: list[Value] = []
    at = 0
    while at < len(tokens):
        token = tokens[at]
        if token.kind == "special" and token.text in ",;":
            at += 1
            continue
        group = _group_name(tokens, at)
        if group is not None:
            name, at = group
            out.append((None, None, name, None))
            while at < len(tokens) and not (
                tokens[at].kind == "special" and tokens[at].text == ";"
            ):
                if tokens[at].kind == "special" and tokens[at].text == ",":
                    at += 1
                    continue
                box, at = _mailbox(tokens, at, ";")
                if (value := box.value()) is not None:
                    out.append(value)
            out.append((None, None, None, None))
            at += 1
            continue
        box, at = _mailbox(tokens, at, ";")
        if (value := box.value()) is not None:
            out.append(value)
    return tuple(out) or None
