"""IMAP sessions in-process (memory store, real sockets and TLS): states, login, mailbox views."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailbox_store.models import Delivery
from mss.audit import AuditEvent
from tests.unit.test_imap_session_support import ImapServer, start_server

MESSAGE = (
    b"From: Dr Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: Compte rendu\r\n"
    b"Date: Mon, 2 Nov 2026 10:00:00 +0100\r\nMessage-ID: <1@example.org>\r\n\r\n"
    b"Bonjour,\r\nle compte rendu est joint.\r\n"
)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ImapServer]:
    async for running in start_server(tmp_path):
        yield running


async def deliver(server: ImapServer, address: str, body: bytes = MESSAGE) -> None:
    await server.store.deliver(body, [Delivery(address)])


async def test_greeting_and_capabilities_before_tls(server: ImapServer) -> None:
    # MSS-TLS-2: no AUTH= and LOGINDISABLED before TLS on the plain port.
    client = await server.connect("imap")
    assert client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert b"LOGINDISABLED" in client.greeting
    assert b"STARTTLS" in client.greeting
    assert b"AUTH=" not in client.greeting
    account = server.account("PER")
    _, tagged = await client.command(f'LOGIN "{account["address"]}" "{account["password"]}"')
    assert b"NO [PRIVACYREQUIRED]" in tagged
    await client.close()


async def test_login_select_fetch(server: ImapServer) -> None:
    account = server.account("PER")
    await deliver(server, account["address"])
    client = await server.connect("imaps")
    assert b"AUTH=PLAIN" in client.greeting
    assert b"LOGINDISABLED" not in client.greeting
    _, tagged = await client.command(f'LOGIN "{account["address"]}" "{account["password"]}"')
    assert b"OK [CAPABILITY IMAP4rev1" in tagged
    assert b"UIDPLUS" in tagged
    lines = await client.ok("SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in lines
    assert b"* 1 RECENT\r\n" in lines
    assert any(b"[UIDVALIDITY " in line for line in lines)
    lines = await client.ok("FETCH 1 (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert lines[0].startswith(b"* 1 FETCH (UID 1 FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {")
    assert b"Subject: Compte rendu" in lines[0]
    lines = await client.ok("FETCH 1 BODY[]")
    assert MESSAGE in lines[0]
    assert b"FLAGS (\\Seen \\Recent)" in lines[0]  # \Seen set by a non-PEEK body fetch
    events = [r for r in server.audit.records if r.event is AuditEvent.MAILBOX_ACCESSED]
    assert {r.details["action"] for r in events} >= {"select", "fetch"}
    assert all(r.mailbox == account["address"] for r in events)
    await client.close()


async def test_wrong_state_and_wrong_password(server: ImapServer) -> None:
    client = await server.connect("imaps")
    _, tagged = await client.command("FETCH 1 FLAGS")
    assert b" BAD " in tagged
    _, tagged = await client.command('LOGIN "dr.nobody@x.fr" "nope"')
    assert b"NO [AUTHENTICATIONFAILED]" in tagged
    failed = [r for r in server.audit.records if r.event is AuditEvent.AUTH_FAILED]
    assert failed
    await client.close()


async def test_two_sessions_see_expunge_and_flags(server: ImapServer) -> None:
    account = server.account("PER")
    for _ in range(3):
        await deliver(server, account["address"])
    one = await server.connect(login="PER")
    two = await server.connect(login="PER")
    await one.ok("SELECT INBOX")
    await two.ok("SELECT INBOX")
    await one.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    await one.ok("EXPUNGE")
    # FETCH must not report the EXPUNGE (RFC 3501 §7.4.1); NOOP does.
    lines = await two.ok("FETCH 1:* (UID)")
    assert not any(b"EXPUNGE" in line for line in lines)
    # The numbers have not moved yet; the expunged message still has its UID (RFC 2180 §4.1.3).
    assert lines == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 2)\r\n", b"* 3 FETCH (UID 3)\r\n"]
    lines = await two.ok("NOOP")
    assert b"* 2 EXPUNGE\r\n" in lines
    await one.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    lines = await two.ok("NOOP")
    assert any(line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged") for line in lines)
    lines = await two.ok("UID FETCH 1:* (FLAGS)")
    assert [line.split(b" ")[1] for line in lines] == [b"1", b"2"]
    await one.close()
    await two.close()


async def test_idle_reports_new_message(server: ImapServer) -> None:
    account = server.account("PER")
    client = await server.connect(login="PER")
    await client.ok("SELECT INBOX")
    await client.send(b"i1 IDLE\r\n")
    assert (await client.read_response()).startswith(b"+ ")
    await deliver(server, account["address"])
    assert await client.read_response() == b"* 1 EXISTS\r\n"
    assert await client.read_response() == b"* 1 RECENT\r\n"
    await client.send(b"DONE\r\n")
    _, tagged = await client.until(b"i1")
    assert b"OK" in tagged
    await client.close()


async def test_starttls_then_login(server: ImapServer) -> None:
    client = await server.connect("imap")
    _, tagged = await client.command("STARTTLS")
    assert b"OK" in tagged
    await client.writer.start_tls(server.client_context())
    lines = await client.ok("CAPABILITY")
    assert b"AUTH=PLAIN" in lines[0]
    assert b"STARTTLS" not in lines[0]
    account = server.account("PER")
    await client.ok(f'LOGIN "{account["address"]}" "{account["password"]}"')
    await client.close()


async def test_authenticate_plain_with_continuation_and_cancel(server: ImapServer) -> None:
    account = server.account("PER")
    client = await server.connect("imaps")
    await client.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert await client.read_response() == b"+ \r\n"
    await client.send(b"*\r\n")
    _, tagged = await client.until(b"a1")
    assert tagged.startswith(b"a1 BAD")  # RFC 3501 §6.2.2: cancelled
    await client.send(b"a2 AUTHENTICATE PLAIN\r\n")
    assert await client.read_response() == b"+ \r\n"
    token = base64.b64encode(f"\0{account['address']}\0{account['password']}".encode())
    await client.send(token + b"\r\n")
    _, tagged = await client.until(b"a2")
    assert tagged.startswith(b"a2 OK [CAPABILITY")
    await client.close()


async def test_sasl_ir_login(server: ImapServer) -> None:
    account = server.account("PER")
    client = await server.connect("imaps")
    token = base64.b64encode(f"\0{account['address']}\0{account['password']}".encode())
    await client.ok(b"AUTHENTICATE PLAIN " + token)
    await client.ok("ENABLE CONDSTORE")
    await client.close()


async def test_bad_command_storm_disconnects(tmp_path: Path) -> None:
    async for server in start_server(tmp_path, max_bad_commands=3):
        client = await server.connect("imaps")
        for _ in range(2):
            _, tagged = await client.command("FOO")
            assert b" BAD " in tagged
        await client.send(b"x3 FOO\r\n")
        assert (await client.read_response()).startswith(b"x3 BAD")
        assert (await client.read_response()).startswith(b"* BYE")
        assert await client.reader.read() == b""
        again = await server.connect("imaps")  # the server keeps serving
        await again.ok("NOOP")
        await again.close()


async def test_literal_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    async for server in start_server(tmp_path, max_literal=1000):
        client = await server.connect(login="PER")
        await client.send(b"a1 APPEND INBOX {5000}\r\n")
        response = await client.read_response()
        assert response.startswith(b"a1 NO [TOOBIG]")  # no "+" continuation
        await client.ok("NOOP")
        await client.send(b"a2 APPEND INBOX {12}\r\n")
        assert (await client.read_response()).startswith(b"+ ")
        await client.send(b"Subject: x\r\n\r\n")
        _, tagged = await client.until(b"a2")
        assert b"[APPENDUID " in tagged
        await client.send(b"a3 APPEND INBOX {12+}\r\nSubject: y\r\n\r\n")
        _, tagged = await client.until(b"a3")
        assert b"[APPENDUID " in tagged
        await client.close()


async def test_idle_pushes_expunge_and_flags_from_another_session(server: ImapServer) -> None:
    account = server.account("PER")
    for _ in range(2):
        await deliver(server, account["address"])
    idler = await server.connect(login="PER")
    other = await server.connect(login="PER")
    await idler.ok("SELECT INBOX")
    await other.ok("SELECT INBOX")
    await idler.send(b"i1 IDLE\r\n")
    assert (await idler.read_response()).startswith(b"+ ")
    await other.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    assert (await idler.read_response()).startswith(b"* 2 FETCH (UID 2 FLAGS (\\Seen")
    await other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    await other.ok("EXPUNGE")
    lines = [await idler.read_response(), await idler.read_response()]
    assert b"* 1 EXPUNGE\r\n" in lines
    await idler.send(b"DONE\r\n")
    await idler.until(b"i1")
    await idler.close()
    await other.close()


async def test_changedsince_and_modseq(server: ImapServer) -> None:
    account = server.account("PER")
    for _ in range(3):
        await deliver(server, account["address"])
    client = await server.connect(login="PER")
    lines = await client.ok("SELECT INBOX (CONDSTORE)")
    highest = next(
        int(x.split(b"HIGHESTMODSEQ ")[1].split(b"]")[0]) for x in lines if b"HIGHESTMODSEQ" in x
    )
    await client.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    lines = await client.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert len(lines) == 1
    assert lines[0].startswith(b"* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (")
    lines = await client.ok(f"SEARCH MODSEQ {highest + 1}")
    assert lines[0].startswith(b"* SEARCH 2 (MODSEQ ")
    await client.close()


async def test_id_namespace_unselect_close(server: ImapServer) -> None:
    account = server.account("PER")
    await deliver(server, account["address"])
    client = await server.connect(login="PER")
    lines = await client.ok('ID ("name" "test")')
    assert lines[0].startswith(b'* ID ("name" "mss"')
    await client.ok("SELECT INBOX")
    await client.ok("STORE 1 +FLAGS (\\Deleted)")
    await client.ok("UNSELECT")  # RFC 3691: no expunge
    lines = await client.ok("SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in lines
    lines = await client.ok("CLOSE")  # expunges silently
    assert not any(b"EXPUNGE" in line for line in lines)
    lines = await client.ok("STATUS INBOX (MESSAGES)")
    assert lines == [b"* STATUS INBOX (MESSAGES 0)\r\n"]
    _, tagged = await client.command("FETCH 1 FLAGS")
    assert b" BAD " in tagged
    await client.close()


async def test_multipart_sections_and_binary(server: ImapServer) -> None:
    account = server.account("PER")
    body = (
        b"From: a@example.org\r\nSubject: pj\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\npreamble\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--XX\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"AAECAw==\r\n--XX--\r\n"
    )
    await deliver(server, account["address"], body)
    client = await server.connect(login="PER")
    await client.ok("EXAMINE INBOX")
    lines = await client.ok("FETCH 1 (BODY[1] BODY[2.MIME] BINARY[2] BINARY.SIZE[2] BODY[1]<1.3>)")
    line = lines[0]
    assert b"BODY[1] {5}\r\nhello" in line
    assert b"BODY[2.MIME] {" in line
    assert b"BINARY[2] ~{4}\r\n\x00\x01\x02\x03" in line
    assert b"BINARY.SIZE[2] 4" in line
    assert b"BODY[1]<1> {3}\r\nell" in line
    await client.close()


async def test_selected_folder_renamed_or_deleted_elsewhere(server: ImapServer) -> None:
    one = await server.connect(login="PER")
    two = await server.connect(login="PER")
    await one.ok("CREATE Dossiers/")  # a trailing delimiter is allowed (RFC 3501 §6.3.3)
    await one.ok("CREATE Dossiers/Patients")
    await one.ok("SELECT Dossiers/Patients")
    await two.ok('RENAME "Dossiers/Patients" "Dossiers/Suivi"')
    await one.ok("NOOP")
    await one.ok("CHECK")
    await two.ok('DELETE "Dossiers/Suivi"')
    await one.send(b"n1 NOOP\r\n")
    assert (await one.read_response()).startswith(b"* BYE")
    await one.close()
    await two.close()


async def test_list_extended_selection_and_return_options(server: ImapServer) -> None:
    client = await server.connect(login="PER")
    await client.ok("CREATE Archives/2026")
    await client.ok("SUBSCRIBE Archives/2026")  # CREATE does not subscribe (RFC 3501 §6.3.6)
    await client.ok("UNSUBSCRIBE Archives")
    lines = await client.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Archives"')
    assert lines == [b'* LIST (\\HasChildren) "/" Archives ("CHILDINFO" ("SUBSCRIBED"))\r\n']
    lines = await client.ok('LIST (SUBSCRIBED) "" "Archives*"')
    assert lines == [b'* LIST (\\HasNoChildren \\Subscribed) "/" Archives/2026\r\n']
    lines = await client.ok('LIST "" "%" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))')
    assert b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n' in lines
    assert b"* STATUS Trash (MESSAGES 0 UNSEEN 0)\r\n" in lines
    lines = await client.ok('LIST "" ""')
    assert lines == [b'* LIST (\\Noselect) "/" ""\r\n']
    lines = await client.ok('CREATE "Brouillons perso" (USE (\\Drafts))')
    lines = await client.ok('LIST "" "Brouillons*" RETURN (SPECIAL-USE)')
    assert lines == [b'* LIST (\\HasNoChildren \\Drafts) "/" "Brouillons perso"\r\n']
    await client.ok('CREATE "&AMk-t&AOk-"')  # modified UTF-7: Été
    lines = await client.ok('LIST "" "&AMk-*"')
    assert lines == [b'* LIST (\\HasNoChildren) "/" &AMk-t&AOk-\r\n']
    await client.close()


async def test_starttls_refuses_piggybacked_commands(server: ImapServer) -> None:
    # A command sent in the same packet as STARTTLS must not run inside TLS (CVE-2011-0411 class).
    client = await server.connect("imap")
    await client.send(b"s1 STARTTLS\r\ns2 NOOP\r\n")
    response = await client.read_response()
    assert response.startswith(b"s1 BAD")
    await client.close()


async def test_getquotaroot_and_append_over_quota(server: ImapServer) -> None:
    account = server.account("PER")
    await server.store.set_quota(account["address"], 2048)
    client = await server.connect(login="PER")
    lines = await client.ok("GETQUOTAROOT INBOX")
    assert lines == [b'* QUOTAROOT INBOX ""\r\n', b'* QUOTA "" (STORAGE 0 2)\r\n']
    _, tagged = await client.command(b"APPEND INBOX {3000+}\r\n" + b"x" * 3000)
    assert b"NO [OVERQUOTA]" in tagged
    await client.close()


async def test_literal_of_a_bad_command_is_not_run_as_a_command(server: ImapServer) -> None:
    client = await server.connect(login="PER")
    await client.send(b"b1 BOGUS {11+}\r\nb2 LOGOUT\r\n\r\n")
    _, tagged = await client.until(b"b1")
    assert tagged.startswith(b"b1 BAD")
    lines = await client.ok("NOOP")  # still logged in: "b2 LOGOUT" was literal data
    assert not any(b"BYE" in line for line in lines)
    await client.close()


async def test_client_that_stops_reading_is_cut_and_others_are_served(tmp_path: Path) -> None:
    async for server in start_server(tmp_path, write_timeout=1.0):
        account = server.account("PER")
        big = MESSAGE + b"x" * (1024 * 1024)
        for _ in range(24):
            await deliver(server, account["address"], big)
        stalled = await server.connect(login="PER")
        await stalled.ok("EXAMINE INBOX")
        await stalled.send(b"f1 FETCH 1:* BODY.PEEK[]\r\n")  # and never read the answer
        other = await server.connect(login="PER")
        await other.ok("SELECT INBOX")
        await other.ok("FETCH 1 (UID FLAGS)")
        for _ in range(50):
            await asyncio.sleep(0.2)
            if len(server.services.sessions) == 1:
                break
        assert len(server.services.sessions) == 1  # the stalled session was closed
        await other.ok("NOOP")
        await other.close()
        await stalled.close()


async def test_too_many_connections_get_bye(tmp_path: Path) -> None:
    async for server in start_server(tmp_path, max_connections=1):
        first = await server.connect("imaps")
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.listeners["imaps"].port, ssl=server.client_context()
        )
        assert (await reader.readline()).startswith(b"* BYE")
        writer.close()
        await first.ok("NOOP")
        await first.close()


async def test_silent_unauthenticated_client_is_logged_out(tmp_path: Path) -> None:
    async for server in start_server(tmp_path, login_timeout=0.3):
        client = await server.connect("imaps")
        assert (await client.read_response()).startswith(b"* BYE Autologout")
        assert await client.reader.read() == b""
        await client.close()


async def test_new_keyword_is_announced_with_flags(server: ImapServer) -> None:
    account = server.account("PER")
    await deliver(server, account["address"])
    client = await server.connect(login="PER")
    lines = await client.ok("SELECT INBOX")
    assert b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)\r\n" in lines
    lines = await client.ok("STORE 1 +FLAGS ($Urgent)")
    assert lines[0] == b"* FLAGS ($Urgent \\Answered \\Deleted \\Draft \\Flagged \\Seen)\r\n"
    assert lines[1].startswith(b"* OK [PERMANENTFLAGS ($Urgent \\Answered")
    assert lines[2].startswith(b"* 1 FETCH (FLAGS ($Urgent \\Recent)")
    _, tagged = await client.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert b" BAD " in tagged  # QRESYNC is not offered
    await client.close()
