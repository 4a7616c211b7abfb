"""IMAP over real sockets with Python's imaplib against the demo operator (issue 3).

STARTTLS on the ``imap`` listener and implicit TLS on ``imaps``; messages delivered over SMTP are
read back byte for byte; two sessions on one mailbox; IDLE woken by an SMTP delivery.
"""

from __future__ import annotations

import imaplib
import re
import select
import socket
import time
import uuid
from collections.abc import Iterator, Sequence

import pytest

from directory.models import BalState
from mss.audit import AuditEvent
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import message, submission_client


def imaps(running: RunningOperator) -> imaplib.IMAP4_SSL:
    return imaplib.IMAP4_SSL(
        "127.0.0.1", running.port("imaps"), ssl_context=running.client_context(), timeout=30
    )


def login(running: RunningOperator, kind: str = "PER", **match: object) -> imaplib.IMAP4_SSL:
    account = running.account(kind, **match)
    client = imaps(running)
    client.login(account["address"], account["password"])
    return client


@pytest.fixture
def doctor(running: RunningOperator) -> Iterator[imaplib.IMAP4_SSL]:
    client = login(running, "PER", rpps="10001234567")
    yield client
    client.logout()


def fresh_folder(client: imaplib.IMAP4, prefix: str = "T") -> str:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    assert client.create(name)[0] == "OK"
    return name


def append(client: imaplib.IMAP4, folder: str, body: bytes, flags: str = "") -> int:
    typ, data = client.append(folder, flags, None, body)
    assert typ == "OK"
    match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
    assert match is not None
    return int(match.group(2))


def untagged(client: imaplib.IMAP4, name: str) -> list[bytes]:
    return [d for d in client.untagged_responses.pop(name, []) if isinstance(d, bytes)]


def flat(data: Sequence[object]) -> bytes:
    """imaplib's response data (bytes, (head, literal) pairs, None) as one byte string."""
    out: list[bytes] = []
    for item in data:
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, tuple | list):
            out.append(flat(item))
    return b"\n".join(out)


# -- TLS, capabilities, login ---------------------------------------------------------------


def test_capabilities_before_and_after_starttls(running: RunningOperator) -> None:
    # MSS-TLS-2: no LOGIN and no AUTH= before TLS on the plain port.
    client = imaplib.IMAP4("127.0.0.1", running.port("imap"), timeout=30)
    assert "LOGINDISABLED" in client.capabilities
    assert "STARTTLS" in client.capabilities
    assert not any(c.startswith("AUTH=") for c in client.capabilities)
    account = running.account("PER")
    with pytest.raises(imaplib.IMAP4.error):
        client.login(account["address"], account["password"])
    client.starttls(running.client_context())
    assert "AUTH=PLAIN" in client.capabilities
    assert "LOGINDISABLED" not in client.capabilities
    typ, data = client.login(account["address"], account["password"])
    assert typ == "OK"
    assert b"[CAPABILITY IMAP4rev1" in data[0]
    for name in (b"UIDPLUS", b"MOVE", b"IDLE", b"CONDSTORE", b"QUOTA", b"ESEARCH", b"SPECIAL-USE"):
        assert name in data[0]
    client.logout()


def test_login_over_implicit_tls(running: RunningOperator) -> None:
    client = imaps(running)
    assert "AUTH=PLAIN" in client.capabilities
    account = running.account("PER")
    assert client.login(account["address"], account["password"])[0] == "OK"
    assert client.logout()[0] == "BYE"


def test_authenticate_plain_as_delegate_of_org_bal(running: RunningOperator) -> None:
    # MSS-BAL-2: the delegate authenticates as themself, the ORG BAL as authzid.
    org = running.account("ORG", pharmacy=False)
    delegate = running.account("PER", address=org["delegates"][0])
    client = imaps(running)
    plain = f"{org['address']}\0{delegate['address']}\0{delegate['password']}".encode()
    typ, _ = client.authenticate("PLAIN", lambda _: plain)
    assert typ == "OK"
    client.select("INBOX")
    client.logout()
    records = running.call(running.operator.audit.query(mailbox=org["address"], limit=50))
    logins = [r for r in records if r.event is AuditEvent.AUTH_SUCCEEDED]
    assert logins
    assert logins[-1].actor == delegate["address"]  # SEC-IN-4: who acted, on which BAL


def test_non_delegate_cannot_open_org_bal(running: RunningOperator) -> None:
    org = running.account("ORG", pharmacy=True)
    other = running.account("PER")
    client = imaps(running)
    plain = f"{org['address']}\0{other['address']}\0{other['password']}".encode()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.authenticate("PLAIN", lambda _: plain)
    client.shutdown()


def test_wrong_password_and_patient_are_refused(running: RunningOperator) -> None:
    client = imaps(running)
    account = running.account("PER")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(account["address"], "not the password")
    patient = running.account("PATIENT", state="active")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):  # MSS-PAT: webmail
        client.login(patient["address"], patient["password"])
    client.logout()
    records = running.call(running.operator.audit.query(event=AuditEvent.AUTH_FAILED, limit=50))
    assert any(r.details.get("username") == account["address"] for r in records)


def test_suspended_bal_cannot_log_in(running: RunningOperator) -> None:
    # MSS-BAL-4
    account = running.account("PER", rpps="10007654321")
    directory = running.operator.directory
    running.call(directory.set_mailbox_state(account["address"], BalState.SUSPENDED))
    try:
        client = imaps(running)
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login(account["address"], account["password"])
        client.logout()
    finally:
        running.call(directory.set_mailbox_state(account["address"], BalState.ACTIVE))


def test_commands_in_the_wrong_state(running: RunningOperator) -> None:
    client = imaps(running)
    client.state = "SELECTED"  # let imaplib send what a confused client would
    with pytest.raises(imaplib.IMAP4.error, match="CLIENTBUG"):
        client.fetch("1", "(FLAGS)")
    with pytest.raises(imaplib.IMAP4.error, match="CLIENTBUG"):
        client.select("INBOX")
    client.state = "NONAUTH"
    account = running.account("PER")
    client.login(account["address"], account["password"])
    client.state = "SELECTED"
    with pytest.raises(imaplib.IMAP4.error, match="CLIENTBUG"):
        client.fetch("1", "(FLAGS)")  # authenticated, nothing selected
    client.logout()


# -- mailboxes ------------------------------------------------------------------------------


def test_list_lsub_status_create_rename_delete_subscribe(doctor: imaplib.IMAP4_SSL) -> None:
    typ, data = doctor.list()
    assert typ == "OK"
    listed = b"\n".join(d for d in data if isinstance(d, bytes))
    assert b'(\\HasNoChildren) "/" INBOX' in listed
    assert b'\\Sent) "/" Sent' in listed
    name = fresh_folder(doctor, "Projets")
    assert doctor.create(f"{name}/Cardio")[0] == "OK"
    typ, data = doctor.list('""', f"{name}*")
    assert [d.split(b'"/" ')[1] for d in data if isinstance(d, bytes)] == [
        name.encode(),
        f"{name}/Cardio".encode(),
    ]
    assert b"\\HasChildren" in flat(data[:1])
    assert doctor.create(name)[0] == "NO"
    typ, data = doctor.status(name, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK"
    assert b"MESSAGES 0" in flat(data)
    assert doctor.rename(f"{name}/Cardio", f"{name}/Cardiologie")[0] == "OK"
    typ, data = doctor.list('""', f"{name}/%")
    assert flat(data).endswith(f"{name}/Cardiologie".encode())
    assert doctor.unsubscribe(f"{name}/Cardiologie")[0] == "OK"
    typ, data = doctor.lsub('""', f"{name}*")
    assert [d for d in data if d and b"Cardiologie" in d] == []
    assert doctor.subscribe(f"{name}/Cardiologie")[0] == "OK"
    typ, data = doctor.lsub('""', f"{name}*")
    assert any(b"Cardiologie" in d for d in data if d)
    typ, data = doctor.delete(name)
    assert typ == "NO"  # has children
    assert doctor.delete(f"{name}/Cardiologie")[0] == "OK"
    assert doctor.delete(name)[0] == "OK"
    assert doctor.delete("INBOX")[0] == "NO"
    typ, data = doctor.status("Nope", "(MESSAGES)")
    assert typ == "NO"


def test_list_extended_and_status(doctor: imaplib.IMAP4_SSL) -> None:
    typ, _ = doctor._simple_command(
        "LIST", "(SPECIAL-USE)", '""', "*", "RETURN", "(STATUS (MESSAGES UIDNEXT))"
    )
    assert typ == "OK"
    lists = untagged(doctor, "LIST")
    statuses = untagged(doctor, "STATUS")
    assert len(lists) == 4  # Sent, Drafts, Trash, Junk
    assert len(statuses) == 4
    assert doctor.xatom("NAMESPACE")[0] == "OK"
    assert untagged(doctor, "NAMESPACE") == [b'(("" "/")) NIL NIL']


# -- messages -------------------------------------------------------------------------------


def test_fetch_what_smtp_delivered(running: RunningOperator) -> None:
    sender = running.account("PER", rpps="10007654321")
    reader = running.account("PER", rpps="10001234567")
    subject = f"Bilan {uuid.uuid4().hex[:6]}"
    sent = message(sender["address"], reader["address"], subject=subject)
    with submission_client(running, sender["address"], sender["password"]) as smtp:
        smtp.sendmail(sender["address"], [reader["address"]], sent)
    client = login(running, "PER", rpps="10001234567")
    client.select("INBOX")
    typ, data = client.uid("SEARCH", "SUBJECT", f'"{subject}"')
    assert typ == "OK"
    (uid,) = data[0].split()
    typ, data = client.uid("FETCH", uid, "(BODY.PEEK[] RFC822.SIZE FLAGS)")
    stored = data[0][1]
    assert stored.endswith(sent)  # Received/Authentication-Results may be prepended
    assert f"RFC822.SIZE {len(stored)}".encode() in data[1]
    assert b"\\Seen" not in data[1]
    typ, data = client.uid(
        "FETCH",
        uid,
        "(ENVELOPE BODYSTRUCTURE BODY INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
        "BODY.PEEK[TEXT]<0.7> RFC822.HEADER BINARY.PEEK[1] BINARY.SIZE[1] MODSEQ)",
    )
    head = b"".join(part if isinstance(part, bytes) else b"".join(part) for part in data)
    assert subject.encode() in head
    assert b'BODYSTRUCTURE ("TEXT" "PLAIN"' in head
    assert b"BODY[TEXT]<0> {7}\r\nBonjour" in head or b"BODY[TEXT]<0>" in head
    assert b'INTERNALDATE "' in head
    assert b"MODSEQ (" in head
    typ, data = client.uid("FETCH", uid, "(RFC822.TEXT)")
    assert b"\\Seen" in b"".join(p if isinstance(p, bytes) else p[0] for p in data)
    records = running.call(
        running.operator.audit.query(mailbox=reader["address"], event=AuditEvent.MAILBOX_ACCESSED)
    )
    assert {"select", "fetch"} <= {r.details.get("action") for r in records}
    client.logout()


def test_search_keys_uid_search_and_esearch(doctor: imaplib.IMAP4_SSL) -> None:
    folder = fresh_folder(doctor)
    bodies = [
        message("a@example.org", "b@example.org", subject="Radio thorax", body="pneumopathie\n"),
        message("c@example.org", "b@example.org", subject="Biologie", body="NFS normale\n"),
        message("a@example.org", "d@example.org", subject="Échographie", body="rien\n"),
    ]
    uids = [append(doctor, folder, body) for body in bodies]
    doctor.select(folder)
    doctor.store("2", "+FLAGS", "(\\Flagged)")
    assert doctor.search(None, "FROM", "a@example.org") == ("OK", [b"1 3"])
    assert doctor.search(None, "SUBJECT", "radio") == ("OK", [b"1"])
    assert doctor.search(None, "BODY", "NFS") == ("OK", [b"2"])
    assert doctor.search(None, "TEXT", "d@example.org") == ("OK", [b"3"])
    assert doctor.search(None, "FLAGGED") == ("OK", [b"2"])
    assert doctor.search(None, "NOT", "FLAGGED") == ("OK", [b"1 3"])
    assert doctor.search(None, "OR", "FLAGGED", "TO", "d@example.org") == ("OK", [b"2 3"])
    assert doctor.search(None, "HEADER", "Subject", "bio") == ("OK", [b"2"])
    assert doctor.search(None, "LARGER", "1", "2:3") == ("OK", [b"2 3"])
    assert doctor.search(None, "SINCE", "1-Jan-2020", "SMALLER", "100000") == ("OK", [b"1 2 3"])
    assert doctor.search("UTF-8", "SUBJECT", '"chographie"') == ("OK", [b"3"])
    typ, data = doctor.search("KOI8-R", "ALL")
    assert typ == "NO"
    assert data[0].startswith(b"[BADCHARSET")
    assert doctor.uid("SEARCH", "FROM", "a@example.org") == (
        "OK",
        [f"{uids[0]} {uids[2]}".encode()],
    )
    typ, _ = doctor.uid("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")
    esearch = untagged(doctor, "ESEARCH")
    assert esearch[0].endswith(
        f"UID MIN {uids[0]} MAX {uids[2]} COUNT 3 ALL {uids[0]}:{uids[2]}".encode()
    )
    doctor.close()


def test_store_flags_and_unchangedsince(doctor: imaplib.IMAP4_SSL) -> None:
    folder = fresh_folder(doctor)
    for _ in range(3):
        append(doctor, folder, message("a@example.org", "b@example.org"))
    doctor.select(folder)
    typ, data = doctor.store("1:2", "+FLAGS", "(\\Answered $Forwarded)")
    assert typ == "OK"
    assert b"\\Answered" in data[0]
    assert b"$Forwarded" in data[0]
    typ, data = doctor.store("1", "-FLAGS.SILENT", "(\\Answered)")
    assert data == [None]
    typ, data = doctor.fetch("1:2", "(FLAGS MODSEQ)")
    assert b"\\Answered" not in flat(data[:1])
    assert b"\\Answered" in flat(data[1:2])
    found = re.search(rb"MODSEQ \((\d+)\)", flat(data[1:2]))
    assert found is not None
    modseq = int(found.group(1))
    typ, data = doctor._simple_command(
        "STORE", "2:3", "(UNCHANGEDSINCE 1)", "+FLAGS", "(\\Flagged)"
    )
    assert typ == "OK"
    assert data[0].startswith(b"[MODIFIED 2:3]")  # RFC 7162 §3.1.3
    typ, data = doctor._simple_command(
        "STORE", "2", f"(UNCHANGEDSINCE {modseq})", "+FLAGS", "(\\Flagged)"
    )
    assert typ == "OK"
    typ, data = doctor.fetch("2", "(FLAGS)")
    assert b"\\Flagged" in flat(data)
    doctor.close()


def test_copy_move_expunge_with_uidplus(
    running: RunningOperator, doctor: imaplib.IMAP4_SSL
) -> None:
    source = fresh_folder(doctor)
    dest = fresh_folder(doctor)
    uids = [append(doctor, source, message("a@example.org", "b@example.org")) for _ in range(4)]
    doctor.select(source)
    typ, data = doctor._simple_command("UID", "COPY", f"{uids[0]}:{uids[1]}", dest)
    assert typ == "OK"
    assert re.search(rb"\[COPYUID \d+ \d+:\d+ 1:2\]", data[0])
    typ, data = doctor.uid("MOVE", str(uids[2]), dest)
    assert typ == "OK"
    assert any(b"COPYUID" in d for d in untagged(doctor, "OK") if isinstance(d, bytes))
    assert untagged(doctor, "EXPUNGE") == [b"3"]
    doctor.store("1", "+FLAGS", "(\\Deleted)")
    doctor.store("2", "+FLAGS", "(\\Deleted)")
    typ, data = doctor.uid("EXPUNGE", str(uids[0]))  # UIDPLUS: only that one
    assert untagged(doctor, "EXPUNGE") == [b"1"]
    typ, data = doctor.expunge()
    assert data == [b"1"]
    typ, data = doctor.copy("1", "Nope")
    assert typ == "NO"
    assert b"TRYCREATE" in data[0]
    doctor.select(dest)
    assert doctor.search(None, "ALL") == ("OK", [b"1 2 3"])
    doctor.close()
    assert doctor.delete(source)[0] == "OK"
    account = running.account("PER", rpps="10001234567")["address"]
    running.call(running.operator.audit.flush())
    records = running.call(
        running.operator.audit.query(mailbox=account, event=AuditEvent.MAILBOX_ACCESSED, limit=500)
    )
    actions = {(r.details.get("action"), r.details.get("folder")) for r in records}
    # SEC-IN-4: moves, expunges and deletions are traced with the BAL and the acting user.
    assert {("move", source), ("expunge", source), ("delete_folder", source)} <= actions
    assert all(r.actor == account for r in records)


def test_append_over_quota_is_refused(running: RunningOperator) -> None:
    account = running.account("PER", rpps="10007654321")
    store = running.operator.store
    usage = running.call(store.usage(account["address"]))
    running.call(store.set_quota(account["address"], usage.bytes + 100))
    try:
        client = login(running, "PER", rpps="10007654321")
        typ, data = client.append("INBOX", "", None, b"Subject: big\r\n\r\n" + b"x" * 500)
        assert typ == "NO"
        assert b"[OVERQUOTA]" in data[0]
        typ, data = client.getquotaroot("INBOX")
        assert typ == "OK"
        assert b"STORAGE" in flat(data)
        client.logout()
    finally:
        running.call(store.set_quota(account["address"], None))


def test_examine_is_read_only(doctor: imaplib.IMAP4_SSL) -> None:
    folder = fresh_folder(doctor)
    append(doctor, folder, message("a@example.org", "b@example.org"))
    assert doctor.select(folder, readonly=True)[0] == "OK"
    _, fetched = doctor.fetch("1", "(BODY[])")
    assert b"\\Seen" not in flat(fetched)
    assert doctor.store("1", "+FLAGS", "(\\Deleted)")[0] == "NO"
    doctor.close()


# -- concurrency ----------------------------------------------------------------------------


def test_two_sessions_see_each_others_changes(running: RunningOperator) -> None:
    one = login(running, "PER", rpps="10001234567")
    two = login(running, "PER", rpps="10001234567")
    folder = fresh_folder(one)
    for _ in range(3):
        append(one, folder, message("a@example.org", "b@example.org"))
    one.select(folder)
    two.select(folder)
    two.untagged_responses.clear()
    one.store("1", "+FLAGS", "(\\Deleted \\Flagged)")
    one.store("3", "+FLAGS", "(\\Seen)")
    one.expunge()
    assert two.noop()[0] == "OK"
    assert untagged(two, "EXPUNGE") == [b"1"]
    fetches = untagged(two, "FETCH")
    assert any(b"\\Seen" in f for f in fetches if isinstance(f, bytes))
    assert two.search(None, "ALL") == ("OK", [b"1 2"])
    append(one, folder, message("a@example.org", "b@example.org"))
    two.noop()
    assert untagged(two, "EXISTS") == [b"3"]
    one.logout()
    two.logout()


def test_idle_wakes_on_smtp_delivery(running: RunningOperator) -> None:
    sender = running.account("PER", rpps="10007654321")
    reader = running.account("PER", rpps="10001234567")
    client = login(running, "PER", rpps="10001234567")
    _, data = client.select("INBOX")
    exists = int(flat(data))
    tag = client._new_tag()
    client.send(tag + b" IDLE\r\n")
    assert client.readline().startswith(b"+ ")
    with submission_client(running, sender["address"], sender["password"]) as smtp:
        smtp.sendmail(
            sender["address"], [reader["address"]], message(sender["address"], reader["address"])
        )
    sock: socket.socket = client.sock
    started = time.monotonic()
    ready, _, _ = select.select([sock], [], [], 10)
    assert ready, "no untagged response while idling"
    line = client.readline()
    assert line == f"* {exists + 1} EXISTS\r\n".encode()
    assert time.monotonic() - started < 5
    client.send(b"DONE\r\n")
    while not (line := client.readline()).startswith(tag):
        pass
    assert b" OK " in line
    client.logout()


def test_utf8_search_and_utf7_mailbox_names(doctor: imaplib.IMAP4_SSL) -> None:
    folder = "&AMk-chographies-" + uuid.uuid4().hex[:6]  # modified UTF-7 of "Échographies-…"
    assert doctor.create(folder)[0] == "OK"
    body = (
        b"From: a@example.org\r\n"
        b"Subject: =?utf-8?q?R=C3=A9sultat_d=27=C3=A9chographie?=\r\n\r\nok\r\n"
    )
    append(doctor, folder, body)
    typ, data = doctor.list('""', "&AMk-chographies-*")
    assert flat(data).endswith(folder.encode())
    doctor.select(folder)
    doctor.literal = "échographie".encode()  # type: ignore[assignment]  # sent as is
    typ, data = doctor.search("UTF-8", "SUBJECT")
    assert (typ, data) == ("OK", [b"1"])
    assert doctor.search(None, "SUBJECT", "radio") == ("OK", [b""])
    doctor.close()
    assert doctor.delete(folder)[0] == "OK"
