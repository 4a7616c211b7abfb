"""SEARCH to the letter over real sockets (issue 3): RFC 3501 §6.4.4, ESEARCH (RFC 4731) and
MODSEQ (RFC 7162 §3.1.5), the corners strict compliance suites look at: addresses with comments
and groups, HEADER existence, BODY/TEXT on base64 and quoted-printable parts, SENT* dates in
the zone of the Date: field, sets after an expunge, ``*`` and out of range numbers, NOT/OR
nesting, ESEARCH with empty results, MODSEQ of MIN/MAX answers.

Every test runs twice: with the folder's header index (``search_index``) and without it (the
header sections read for each search), and both must give the same answers.
"""

from __future__ import annotations

import base64
import imaplib
import random
import re
from collections.abc import Iterator

import pytest

from mss.imap import search_index, searching
from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_imaplib import append, flat, fresh_folder, login, untagged


@pytest.fixture(params=["index", "scan"])
def doctor(
    request: pytest.FixtureRequest, running: RunningOperator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[imaplib.IMAP4_SSL]:
    monkeypatch.setattr(searching, "INDEX_MIN", 0 if request.param == "index" else 10**9)
    client = login(running, "PER", rpps="10001234567")
    yield client
    client.logout()


def mail(head: str, body: str = "corps\r\n") -> bytes:
    return (head.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


def numbers(client: imaplib.IMAP4, *criteria: str, uid: bool = False) -> list[int]:
    """The numbers (or UIDs) of ``SEARCH criteria``, checking the command succeeds."""
    if uid:
        typ, data = client.uid("SEARCH", *criteria)
    else:
        typ, data = client.search(None, *criteria)
    assert typ == "OK", data
    return [int(n) for n in (data[0] or b"").split()]


def esearch(client: imaplib.IMAP4, *words: str) -> bytes:
    """The ESEARCH response to ``words`` (a whole command), without ``(TAG "...")``."""
    typ, data = client._simple_command(*words)
    assert typ == "OK", data
    [line] = untagged(client, "ESEARCH")
    return re.sub(rb'^\(TAG "[^"]*"\) ?', b"", line)


def folder_with(client: imaplib.IMAP4, *bodies: bytes) -> list[int]:
    """A new folder holding ``bodies``, selected; the UIDs."""
    folder = fresh_folder(client, "S")
    uids = [append(client, folder, body) for body in bodies]
    assert client.select(folder)[0] == "OK"
    return uids


# -- addresses (RFC 3501 FROM/TO/CC/BCC: the address and the display name) ---------------------


ADDRESSES = [
    mail("From: jean.martin@chu-lyon.fr\nTo: secretariat@clinique.fr\nCc: labo@chu-lyon.fr"),
    mail(
        "From: Jean Martin <jean.martin@chu-lyon.fr>\nTo: Secretariat Cardio "
        "<secretariat@clinique.fr>\nCc: Labo Central <labo@chu-lyon.fr>\n"
        "Bcc: Archives <archives@chu-lyon.fr>"
    ),
    mail(
        "From: <jean.martin (cardiologie)@ (site nord) chu-lyon.fr>\nTo: <secretariat@clinique.fr>"
    ),
    mail("From: jean.martin@chu-lyon.fr (Jean Martin)\nCc: labo@chu-lyon.fr (Labo Central)"),
    mail("From: anne.petit@chu-lyon.fr, paul.roux@chu-lyon.fr\nCc: labo@chu-lyon.fr"),
    mail(
        "To: equipe: anne.petit@chu-lyon.fr, paul.roux@chu-lyon.fr;,\n"
        "  astreinte: interne@chu-lyon.fr;"
    ),
    mail(
        'From: "Martin, Jean \\"JM\\"" <jm@chu-lyon.fr>\nTo: =?utf-8?q?H=C3=A9l=C3=A8ne?= <h@x.fr>'
    ),
]


def test_address_searches(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor, *ADDRESSES)
    assert numbers(doctor, "FROM", "jean.martin@chu-lyon.fr") == [1, 2, 3, 4]
    assert numbers(doctor, "TO", "secretariat@clinique.fr") == [1, 2, 3]
    assert numbers(doctor, "CC", "labo@chu-lyon.fr") == [1, 2, 4, 5]
    assert numbers(doctor, "BCC", "archives@chu-lyon.fr") == [2]
    # the display name (or the comment standing for it), substrings, any case
    assert numbers(doctor, "FROM", '"Jean Martin"') == [2, 4]
    assert numbers(doctor, "CC", "central") == [2, 4]
    assert numbers(doctor, "FROM", "AN.MARTIN@CHU") == [1, 2, 3, 4]
    assert numbers(doctor, "FROM", "paul.roux") == [5]
    assert numbers(doctor, "FROM", '"Martin, Jean \\"JM\\""') == [7]
    # groups: the group name and its members, nothing else
    assert numbers(doctor, "TO", "equipe") == [6]
    assert numbers(doctor, "TO", "astreinte") == [6]
    assert numbers(doctor, "TO", "interne@chu-lyon.fr") == [6]
    assert numbers(doctor, "TO", "personne@chu-lyon.fr") == []
    # RFC 2047 display names are decoded
    doctor.literal = "hélène".encode()  # type: ignore[assignment]
    assert doctor.search("UTF-8", "TO") == ("OK", [b"7"])
    # a field's existence
    assert numbers(doctor, "HEADER", "FROM", '""') == [1, 2, 3, 4, 5, 7]
    assert numbers(doctor, "HEADER", "BCC", '""') == [2]
    assert numbers(doctor, "NOT", "HEADER", "CC", '""') == [3, 6, 7]


# -- other header fields -----------------------------------------------------------------------


def test_header_and_subject(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(
        doctor,
        mail("Subject: compte rendu operatoire\nMessage-ID: <a1@chu-lyon.fr>"),
        mail("X-Priorite: compte rendu urgent\nMessage-ID: <b2@chu-lyon.fr>"),
        mail("Subject: =?iso-8859-1?q?R=E9sultat?= de\n  biologie\nX-Priorite:"),
    )
    assert numbers(doctor, "SUBJECT", "compte") == [1]
    assert numbers(doctor, "SUBJECT", '"rendu operatoire"') == [1]
    assert numbers(doctor, "SUBJECT", '"te rendu opera"') == [1]
    assert numbers(doctor, "HEADER", "subject", '""') == [1, 3]
    assert numbers(doctor, "NOT", "HEADER", "Subject", '""') == [2]
    assert numbers(doctor, "HEADER", "x-priorite", '""') == [2, 3]
    assert numbers(doctor, "HEADER", "X-PRIORITE", '"rendu urg"') == [2]
    assert numbers(doctor, "HEADER", "Message-ID", '"<b2@"') == [2]
    # folded lines are unfolded, encoded words decoded (RFC 2047, ISO-8859-1 here)
    doctor.literal = "résultat de  biologie".encode()  # type: ignore[assignment]
    assert doctor.search("UTF-8", "SUBJECT") == ("OK", [b"3"])
    doctor.literal = "RÉSULTAT".encode()  # type: ignore[assignment]
    assert doctor.search("UTF-8", "HEADER", "SUBJECT") == ("OK", [b"3"])
    assert numbers(doctor, "SUBJECT", '""') == [1, 3]


# -- BODY and TEXT on decoded parts ------------------------------------------------------------


def _base64_part(text: str) -> str:
    encoded = base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")
    return (
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
    )


BODIES = [
    mail("Subject: simple", "Patient vu en consultation: echographie normale.\r\n"),
    mail(
        'Subject: encodage\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"',
        "--b1\r\n"
        + _base64_part("Compte rendu: fracture du scaphoïde.\r\n")
        + "--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Traitement: immobilisation pl=E2tr=\r\ne six semaines.\r\n--b1--\r\n",
    ),
    mail(
        "Subject: fracture\nX-Dossier: scaphoide\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
        base64.encodebytes(b"Rien a signaler.").decode().replace("\n", "\r\n"),
    ),
]


def test_body_and_text_on_decoded_parts(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor, *BODIES)
    assert numbers(doctor, "BODY", "echographie") == [1]
    assert numbers(doctor, "BODY", "fracture") == [2]  # base64 part; 3 has it in its Subject
    assert numbers(doctor, "TEXT", "fracture") == [2, 3]
    doctor.literal = "scaphoïde".encode()  # type: ignore[assignment]
    assert doctor.search("UTF-8", "BODY") == ("OK", [b"2"])
    doctor.literal = "plâtre six".encode()  # type: ignore[assignment]  # QP, soft break, Latin-1
    assert doctor.search("UTF-8", "BODY") == ("OK", [b"2"])
    assert numbers(doctor, "BODY", '"a signaler"') == [3]
    assert numbers(doctor, "BODY", "UmllbiBh") == []  # the base64 text itself is not the body
    assert numbers(doctor, "TEXT", "scaphoide") == [3]  # an X- field
    assert numbers(doctor, "TEXT", "multipart") == [2]  # every header, MIME ones included
    assert numbers(doctor, "BODY", "multipart") == []
    assert numbers(doctor, "TEXT", "UmllbiBh") == []


# -- dates ------------------------------------------------------------------------------------


def test_sent_dates_use_the_day_as_written(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(
        doctor,
        mail("Date: Sat, 24 Mar 2007 23:00:00 +0200"),
        mail("Date: Sun, 25 Mar 2007 00:30:00 +0200"),  # 24 Mar in UTC: the written day counts
        mail("Date: Sun, 25 Mar 2007 23:59:59 -1100"),  # 26 Mar in UTC
        mail("Date: 26 Mar 07 08:00 GMT"),  # an obsolete two-digit year
        mail("Subject: no date"),
        mail("Date: not a date"),
    )
    assert numbers(doctor, "SENTON", "24-Mar-2007") == [1]
    assert numbers(doctor, "SENTON", "25-Mar-2007") == [2, 3]
    assert numbers(doctor, "SENTBEFORE", "25-Mar-2007") == [1]
    assert numbers(doctor, "SENTBEFORE", "26-Mar-2007") == [1, 2, 3]
    assert numbers(doctor, "SENTSINCE", "25-Mar-2007") == [2, 3, 4]
    assert numbers(doctor, "SENTSINCE", "27-Mar-2007") == []
    assert numbers(doctor, "NOT", "SENTBEFORE", "1-Jan-2100") == [5, 6]


def test_internal_dates_match_what_fetch_shows(doctor: imaplib.IMAP4_SSL) -> None:
    folder = fresh_folder(doctor, "S")
    for when in ('"24-Mar-2007 23:00:00 +0000"', '"25-Mar-2007 12:00:00 +0000"'):
        assert doctor.append(folder, "", when, mail("Subject: x"))[0] == "OK"
    assert doctor.select(folder)[0] == "OK"
    assert numbers(doctor, "BEFORE", "25-Mar-2007") == [1]
    assert numbers(doctor, "ON", "25-Mar-2007") == [2]
    assert numbers(doctor, "SINCE", "25-Mar-2007") == [2]
    assert numbers(doctor, "SINCE", "24-Mar-2007") == [1, 2]
    assert numbers(doctor, "ON", "23-Mar-2007") == []
    # the day ON finds is the day of the INTERNALDATE the server shows
    _, data = doctor.fetch("1:2", "(INTERNALDATE)")
    days = re.findall(rb'INTERNALDATE "(\d\d-\w\w\w-\d{4})', flat(data))
    assert days == [b"24-Mar-2007", b"25-Mar-2007"]


# -- flags, sizes ------------------------------------------------------------------------------


def test_flag_keys(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor, *(mail(f"Subject: {n}") for n in range(5)))
    for number, flags in enumerate(
        [
            "($Urgent)",
            "(\\Seen \\Flagged)",
            "(\\Answered $Urgent)",
            "(\\Flagged \\Draft)",
            "(\\Deleted \\Answered)",
        ],
        start=1,
    ):
        assert doctor.store(str(number), "FLAGS", flags)[0] == "OK"
    assert numbers(doctor, "ANSWERED") == [3, 5]
    assert numbers(doctor, "UNANSWERED") == [1, 2, 4]
    assert numbers(doctor, "DELETED") == [5]
    assert numbers(doctor, "UNDELETED") == [1, 2, 3, 4]
    assert numbers(doctor, "DRAFT") == [4]
    assert numbers(doctor, "UNDRAFT") == [1, 2, 3, 5]
    assert numbers(doctor, "FLAGGED") == [2, 4]
    assert numbers(doctor, "UNFLAGGED") == [1, 3, 5]
    assert numbers(doctor, "SEEN") == [2]
    assert numbers(doctor, "UNSEEN") == [1, 3, 4, 5]
    assert numbers(doctor, "KEYWORD", "$urgent") == [1, 3]
    assert numbers(doctor, "UNKEYWORD", "$Urgent") == [2, 4, 5]
    assert numbers(doctor, "NEW") == [1, 3, 4, 5]  # RECENT UNSEEN
    assert numbers(doctor, "OLD") == []
    assert numbers(doctor, "RECENT") == [1, 2, 3, 4, 5]
    other = fresh_folder(doctor, "S")
    assert doctor.select(other)[0] == "OK"
    assert numbers(doctor, "RECENT") == []


def test_size_keys_use_rfc822_size(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor, *(mail("Subject: s", "x" * n + "\r\n") for n in (10, 20, 30, 40)))
    _, data = doctor.fetch("3", "(RFC822.SIZE)")
    found = re.search(rb"RFC822\.SIZE (\d+)", flat(data))
    assert found is not None
    size = found.group(1).decode()
    assert numbers(doctor, "SMALLER", size) == [1, 2]
    assert numbers(doctor, "LARGER", size) == [4]
    assert numbers(doctor, "NOT", "SMALLER", size, "NOT", "LARGER", size) == [3]
    assert numbers(doctor, "OR", "SMALLER", size, "LARGER", size) == [1, 2, 4]


# -- sets, NOT/OR ------------------------------------------------------------------------------


def test_sets_after_an_expunge(doctor: imaplib.IMAP4_SSL) -> None:
    uids = folder_with(doctor, *(mail(f"Subject: m{n}") for n in range(6)))
    assert numbers(doctor, "ALL", uid=True) == uids
    doctor.store("2", "+FLAGS", "(\\Deleted)")
    doctor.expunge()
    u1, u3, u4, u5, u6 = uids[0], uids[2], uids[3], uids[4], uids[5]
    assert numbers(doctor, "ALL") == [1, 2, 3, 4, 5]
    assert numbers(doctor, "ALL", uid=True) == [u1, u3, u4, u5, u6]
    assert numbers(doctor, "1:3,5") == [1, 2, 3, 5]
    assert numbers(doctor, "4:2") == [2, 3, 4]
    assert numbers(doctor, "UID", f"{u1}:{u3},{u5}") == [1, 2, 4]
    assert numbers(doctor, "UID", f"{u4}:{uids[1]}") == [2, 3]
    assert numbers(doctor, "1:3", "NOT", "UID", str(u3)) == [1, 3]
    assert numbers(doctor, "NOT", "2,4") == [1, 3, 5]
    assert numbers(doctor, "OR", "1", "UID", str(u3)) == [1, 2]
    assert numbers(doctor, "*") == [5]
    assert numbers(doctor, "UID", "*") == [5]
    assert numbers(doctor, "6:*") == [5]
    assert numbers(doctor, "*:6") == [5]
    assert numbers(doctor, "UID", f"{u6 + 1}:*") == [5]
    assert numbers(doctor, "*:3") == [3, 4, 5]
    assert numbers(doctor, "1,4,*") == [1, 4, 5]
    assert numbers(doctor, "1000") == []  # out of range: no match, no error
    assert numbers(doctor, "OR", "OR", "1", "2", "NOT", "OR", "3", "NOT", "4") == [1, 2, 4]
    assert numbers(doctor, "(OR 1 5)", "(SUBJECT m5)") == [5]
    assert numbers(doctor, "NOT", "(OR 1 5)", "NOT", "(NOT SUBJECT m3)") == [3]


def test_empty_mailbox(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor)
    assert numbers(doctor, "*") == []
    assert numbers(doctor, "UID", "*") == []
    assert numbers(doctor, "ALL", uid=True) == []
    assert numbers(doctor, "SUBJECT", "x") == []
    assert esearch(doctor, "SEARCH", "RETURN", "(COUNT)", "ALL") == b"COUNT 0"
    assert esearch(doctor, "SEARCH", "RETURN", "(MIN MAX ALL)", "*") == b""


def test_unknown_charset_and_bad_keys(doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor, mail("Subject: x"))
    typ, data = doctor.search("ISO-2022-JP", "ALL")
    assert typ == "NO"
    assert data[0].startswith(b"[BADCHARSET (UTF-8 US-ASCII)]")
    assert doctor.search("us-ascii", "SUBJECT", "x") == ("OK", [b"1"])
    with pytest.raises(imaplib.IMAP4.error):
        doctor.search(None, "SUBJECTS", "x")
    assert numbers(doctor, "SUBJECT", "x") == [1]  # the session goes on


# -- ESEARCH (RFC 4731) ------------------------------------------------------------------------


def test_esearch_results(doctor: imaplib.IMAP4_SSL) -> None:
    uids = folder_with(doctor, *(mail(f"Subject: e{n}") for n in range(7)))
    doctor.store("4", "+FLAGS", "(\\Deleted)")
    doctor.expunge()
    u = [uids[i] for i in (0, 1, 2, 4, 5, 6)]
    assert esearch(doctor, "SEARCH", "RETURN", "(ALL)", "ALL") == b"ALL 1:6"
    assert esearch(doctor, "SEARCH", "RETURN", "()", "ALL") == b"ALL 1:6"
    assert esearch(doctor, "SEARCH", "RETURN", "(MIN)", "ALL") == b"MIN 1"
    assert esearch(doctor, "SEARCH", "RETURN", "(MAX)", "ALL") == b"MAX 6"
    assert esearch(doctor, "SEARCH", "RETURN", "(COUNT)", "ALL") == b"COUNT 6"
    every = f"ALL {u[0]}:{u[2]},{u[3]}:{u[5]}".encode()
    assert esearch(doctor, "UID", "SEARCH", "RETURN", "(ALL)", "ALL") == b"UID " + every
    assert esearch(doctor, "UID", "SEARCH", "RETURN", "()", "ALL") == b"UID " + every
    assert esearch(doctor, "UID", "SEARCH", "RETURN", "(MIN MAX)", "ALL") == (
        f"UID MIN {u[0]} MAX {u[5]}".encode()
    )
    doctor.store("2,4", "+FLAGS", "(\\Seen)")
    assert esearch(doctor, "UID", "SEARCH", "RETURN", "(ALL)", "SEEN") == (
        f"UID ALL {u[1]},{u[3]}".encode()
    )
    assert esearch(doctor, "UID", "SEARCH", "RETURN", "(COUNT)", "SEEN") == b"UID COUNT 2"
    for returns in ("()", "(MIN)", "(MAX)", "(ALL)"):
        assert esearch(doctor, "SEARCH", "RETURN", returns, "1000") == b""
        assert esearch(doctor, "UID", "SEARCH", "RETURN", returns, "1000") == b"UID"
    assert esearch(doctor, "SEARCH", "RETURN", "(COUNT)", "1000") == b"COUNT 0"
    assert esearch(doctor, "UID", "SEARCH", "RETURN", "(COUNT)", "1000") == b"UID COUNT 0"


def _highest(line: bytes) -> int:
    found = re.search(rb"HIGHESTMODSEQ (\d+)", line)
    assert found is not None
    return int(found.group(1))


def _modseq(client: imaplib.IMAP4, number: int) -> int:
    _, data = client.fetch(str(number), "(MODSEQ)")
    found = re.search(rb"MODSEQ \((\d+)\)", flat(data))
    assert found is not None
    return int(found.group(1))


def test_modseq_in_search_and_esearch(running: RunningOperator, doctor: imaplib.IMAP4_SSL) -> None:
    folder_with(doctor, *(mail(f"Subject: c{n}") for n in range(4)))
    # SEARCH MODSEQ enables CONDSTORE (RFC 7162 §3.1) and reports HIGHESTMODSEQ once
    assert doctor._simple_command("SEARCH", "MODSEQ", "1")[0] == "OK"
    codes = [line for line in untagged(doctor, "OK") if b"HIGHESTMODSEQ" in line]
    assert len(codes) == 1
    assert untagged(doctor, "SEARCH") == [b"1 2 3 4 (MODSEQ %d)" % _highest(codes[0])]
    for number in (1, 3, 2, 4):  # message 2 ends with a higher MODSEQ than message 3
        doctor.store(str(number), "+FLAGS", "(\\Seen)")
    m1, m2, m3, m4 = (_modseq(doctor, n) for n in (1, 2, 3, 4))
    assert m1 < m3 < m2 < m4
    flags = '"/flags/\\\\seen"'
    assert esearch(doctor, "SEARCH", "RETURN", "(MIN)", "1:3", "MODSEQ", flags, "all", "1") == (
        f"MIN 1 MODSEQ {m1}".encode()
    )
    assert esearch(doctor, "SEARCH", "RETURN", "(MAX)", "1:3", "MODSEQ", flags, "all", "1") == (
        f"MAX 3 MODSEQ {m3}".encode()
    )
    assert esearch(doctor, "SEARCH", "RETURN", "()", "1:3", "MODSEQ", flags, "all", "1") == (
        f"ALL 1:3 MODSEQ {m2}".encode()
    )
    assert esearch(doctor, "SEARCH", "RETURN", "(MIN MAX)", "2:3", "MODSEQ", "1") == (
        f"MIN 2 MAX 3 MODSEQ {m2}".encode()
    )
    assert esearch(doctor, "SEARCH", "RETURN", "(ALL)", "2:3", "MODSEQ", str(m2)) == (
        f"ALL 2 MODSEQ {m2}".encode()
    )
    assert esearch(doctor, "SEARCH", "RETURN", "(ALL)", "2:3", "MODSEQ", str(m4)) == b""
    assert doctor._simple_command("SEARCH", "MODSEQ", str(m3))[0] == "OK"
    assert untagged(doctor, "SEARCH") == [f"2 3 4 (MODSEQ {m4})".encode()]
    assert doctor._simple_command("SEARCH", "MODSEQ", str(m4 + 1))[0] == "OK"
    assert untagged(doctor, "SEARCH") == [b""]  # no MODSEQ without a match
    assert not [line for line in untagged(doctor, "OK") if b"HIGHESTMODSEQ" in line]


# -- the index follows the folder ----------------------------------------------------------------


def test_index_follows_new_and_expunged_messages(
    running: RunningOperator, doctor: imaplib.IMAP4_SSL
) -> None:
    folder = fresh_folder(doctor, "S")
    for n in range(30):
        append(doctor, folder, mail(f"From: dr{n % 3}@chu-lyon.fr\nSubject: suivi {n}"))
    assert doctor.select(folder)[0] == "OK"
    assert numbers(doctor, "FROM", "dr1@") == list(range(2, 31, 3))
    other = login(running, "PER", rpps="10001234567")
    try:
        append(other, folder, mail("From: dr1@chu-lyon.fr\nSubject: suivi nouveau"))
        other.select(folder)
        other.store("2", "+FLAGS", "(\\Deleted)")
        other.expunge()
    finally:
        other.logout()
    assert doctor.noop()[0] == "OK"  # the new message and the expunge reach this session
    assert numbers(doctor, "FROM", "dr1@") == [*range(4, 30, 3), 30]
    assert numbers(doctor, "SUBJECT", "nouveau") == [30]
    assert numbers(doctor, "UNSEEN", "SUBJECT", "suivi") == list(range(1, 31))


# -- the index and the scan agree -----------------------------------------------------------------


def _random_key(rng: random.Random, depth: int = 0) -> str:
    words = ["dr1", "chu", "suivi", "Compte", "rendu", "cho", "lyon.fr", "<m1", "x", "dr1@chu-lyon"]
    leaves = [
        lambda: f"FROM {rng.choice(words)}",
        lambda: f"TO {rng.choice(words)}",
        lambda: f"CC {rng.choice(words)}",
        lambda: f"SUBJECT {rng.choice(words)}",
        lambda: f'HEADER Message-ID "{rng.choice(words)}"',
        lambda: f'HEADER X-Dossier "{rng.choice(words)}"',
        lambda: f"SENTSINCE {rng.randint(1, 28)}-Feb-2024",
        lambda: f"SENTBEFORE {rng.randint(1, 28)}-Feb-2024",
        lambda: rng.choice(["SEEN", "UNSEEN", "FLAGGED", "ALL", "NEW"]),
        lambda: f"{rng.randint(1, 40)}:{rng.choice(['*', '20', '5'])}",
    ]
    if depth < 2 and rng.random() < 0.3:
        first, second = _random_key(rng, depth + 1), _random_key(rng, depth + 1)
        return rng.choice([f"OR {first} {second}", f"NOT {first}", f"({first} {second})"])
    return rng.choice(leaves)()


def _varied(n: int) -> bytes:
    subject = ["Compte rendu", "=?utf-8?q?Suivi_=C3=A9cho?=", "suivi\r\n  rendu", ""][n % 4]
    sender = [
        f"dr{n % 3}@chu-lyon.fr",
        f"Dr {n % 3} <dr{n % 3}@chu-lyon.fr>",
        f"<dr{n % 3} (x)@ chu-lyon.fr>",
    ][n % 3]
    head = f"From: {sender}\nTo: bal{n % 2}@chu.fr\nSubject: {subject}\nMessage-ID: <m{n}@chu>"
    if n % 5:
        head += f"\nDate: {1 + n % 28} Feb 2024 10:00:00 +0100\nCc: cc{n % 4}@lyon.fr"
    if n % 7 == 0:
        head += "\nX-Dossier: suivi"
    return mail(head)


@pytest.mark.parametrize("seed", [1, 2])
def test_index_and_scan_give_the_same_answers(
    running: RunningOperator, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    client = login(running, "PER", rpps="10001234567")
    try:
        folder_with(client, *(_varied(n) for n in range(40)))
        client.store("1:10", "+FLAGS", "(\\Seen)")
        client.store("5:15", "+FLAGS", "(\\Flagged)")
        rng = random.Random(seed)
        some = 0
        for _ in range(40):
            key = _random_key(rng)
            answers = []
            for minimum in (0, 10**9):
                search_index._CACHES.clear()
                monkeypatch.setattr(searching, "INDEX_MIN", minimum)
                typ, data = client.search("UTF-8", key)
                assert typ == "OK", (key, data)
                answers.append(data)
            assert answers[0] == answers[1], key
            some += answers[0] != [b""]
        assert some > 10  # the keys do find messages
    finally:
        client.logout()
