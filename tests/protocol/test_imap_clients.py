"""IMAP with real clients over real sockets against the demo operator (issue 3).

``aioimaplib`` (an asyncio client, a test dependency only: it is GPL) drives a whole session: login,
LIST, SELECT, FETCH, SEARCH, STORE, COPY, MOVE, APPEND, EXPUNGE, IDLE woken by an SMTP delivery and
by a delivery through the store, LOGOUT. The command-line clients installed by ``scripts/test.sh``
(``curl`` imaps://, ``mbsync`` from isync, ``mutt``) talk to the ``imaps`` listener with the demo CA
and the certificate's name (``localhost``), so the TLS chain and name are really checked.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioimaplib
import pytest

from mailbox_store.models import Delivered, Delivery
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import message, submission_client

DOCTOR = {"rpps": "10001234567"}
NURSE = {"rpps": "10007654321"}


async def connect(running: RunningOperator, **match: Any) -> aioimaplib.IMAP4_SSL:
    account = running.account("PER", **(match or DOCTOR))
    client = aioimaplib.IMAP4_SSL(
        "127.0.0.1", running.port("imaps"), ssl_context=running.client_context(), timeout=30
    )
    await client.wait_hello_from_server()
    response = await client.login(account["address"], account["password"])
    assert response.result == "OK", response
    return client


async def hang_up(imap: aioimaplib.IMAP4_SSL) -> None:
    """LOGOUT if still logged in, then drop the socket: aioimaplib never closes its own
    transport, and one left open when the test's loop ends is a ResourceWarning (an error here)."""
    if imap.get_state() != "LOGOUT":
        await imap.logout()
    transport = imap.protocol.transport
    if transport is not None:
        transport.abort()
    await asyncio.sleep(0.01)  # let connection_lost run before the loop goes away


@pytest.fixture
async def client(running: RunningOperator) -> AsyncIterator[aioimaplib.IMAP4_SSL]:
    imap = await connect(running)
    yield imap
    await hang_up(imap)


def text(response: Any) -> str:
    return "\n".join(
        bytes(line).decode("utf-8", "replace")
        for line in response.lines
        if isinstance(line, (bytes, bytearray))
    )


async def ok(awaitable: Any) -> Any:
    response = await awaitable
    assert response.result == "OK", response
    return response


async def new_folder(imap: aioimaplib.IMAP4_SSL) -> str:
    name = f"C{uuid.uuid4().hex[:8]}"
    await ok(imap.create(name))
    return name


async def append(imap: aioimaplib.IMAP4_SSL, folder: str, body: bytes, flags: str = "") -> int:
    response = await ok(imap.append(body, mailbox=folder, flags=flags or None))
    found = re.search(r"\[APPENDUID (\d+) (\d+)\]", text(response))
    assert found is not None, response  # UIDPLUS, RFC 4315
    return int(found.group(2))


def has(line: str, response_text: str) -> bool:
    """``line`` is one of the untagged responses (aioimaplib strips the ``* ``)."""
    return line in response_text.split("\n")


def numbers(response: Any) -> list[int]:
    """The numbers of a SEARCH response (aioimaplib strips ``* SEARCH``)."""
    first = text(response).split("\n")[0].split()
    return [int(n) for n in first if n != "SEARCH"]


def literals(response: Any) -> list[bytes]:
    return [bytes(line) for line in response.lines if isinstance(line, bytearray)]


# -- aioimaplib -----------------------------------------------------------------------------


async def test_aioimaplib_whole_session(
    running: RunningOperator, client: aioimaplib.IMAP4_SSL
) -> None:
    folder = await new_folder(client)
    other = await new_folder(client)
    bodies = [
        message("a@example.org", "b@example.org", subject=f"Bilan {n}", body=f"Corps {n}\n")
        for n in range(3)
    ]
    uids = [await append(client, folder, body) for body in bodies]
    assert uids == sorted(uids)
    assert len(set(uids)) == 3

    listing = text(await ok(client.list('""', "*")))
    assert f'"{folder}"' in listing or f" {folder}\n" in listing + "\n"
    assert "INBOX" in listing

    selected = text(await ok(client.select(folder)))
    assert has("3 EXISTS", selected)
    assert "UIDVALIDITY" in selected
    assert "UIDNEXT" in selected

    fetched = await ok(client.fetch("1:*", "(UID FLAGS RFC822.SIZE)"))
    lines = text(fetched)
    for number, (uid, body) in enumerate(zip(uids, bodies, strict=True), 1):
        assert re.search(rf"^{number} FETCH \(.*UID {uid}\b", lines, re.M), lines
        assert f"RFC822.SIZE {len(body)}" in lines

    full = await ok(client.fetch("2", "(BODY.PEEK[])"))
    assert literals(full) == [bodies[1]]  # byte for byte

    found = await ok(client.uid_search("SUBJECT", '"Bilan 2"'))
    assert numbers(found) == [uids[2]]

    await ok(client.store("1", "+FLAGS", "(\\Seen \\Flagged)"))
    flags = text(await ok(client.fetch("1", "(FLAGS)")))
    assert "\\Seen" in flags
    assert "\\Flagged" in flags
    assert numbers(await ok(client.search("UNSEEN"))) == [2, 3]

    copied = text(await ok(client.uid("copy", str(uids[0]), other)))
    assert "[COPYUID " in copied
    moved = await ok(client.move(str(uids[1]), other))  # aioimaplib sends UID MOVE
    assert "EXPUNGE" in text(moved)

    await ok(client.store("1", "+FLAGS", "(\\Deleted)"))
    expunged = text(await ok(client.expunge()))
    assert has("1 EXPUNGE", expunged)
    assert numbers(await ok(client.search("ALL"))) == [1]

    status = text(await ok(client.status(other, "(MESSAGES UIDNEXT)")))
    assert "MESSAGES 2" in status
    await ok(client.select(other))
    copies = await ok(client.fetch("1:*", "(FLAGS BODY.PEEK[])"))
    assert sorted(literals(copies)) == sorted([bodies[0], bodies[1]])
    assert "\\Flagged" in text(copies)  # COPY keeps the flags

    await ok(client.close())
    await ok(client.delete(folder))
    assert (await client.logout()).result == "OK"


async def idle_until_exists(imap: aioimaplib.IMAP4_SSL, deliver: Any, expected: int) -> float:
    """Start IDLE, run ``deliver()`` and return the seconds until ``* expected EXISTS``."""
    idle = await imap.idle_start(timeout=30)
    started = time.monotonic()
    await deliver()
    seen: list[str] = []
    while f"{expected} EXISTS" not in seen:
        pushed = await imap.wait_server_push(timeout=10)
        if isinstance(pushed, list):
            seen.extend(bytes(line).decode() for line in pushed)
        else:
            seen.append(str(pushed))
    elapsed = time.monotonic() - started
    imap.idle_done()
    assert (await asyncio.wait_for(idle, 10)).result == "OK"
    return elapsed


async def test_aioimaplib_idle_wakes_on_smtp_delivery(
    running: RunningOperator, client: aioimaplib.IMAP4_SSL
) -> None:
    sender = running.account("PER", **NURSE)
    reader = running.account("PER", **DOCTOR)
    selected = text(await ok(client.select("INBOX")))
    exists = int(re.search(r"(\d+) EXISTS", selected).group(1))  # type: ignore[union-attr]

    def submit() -> None:
        with submission_client(running, sender["address"], sender["password"]) as smtp:
            body = message(sender["address"], reader["address"], subject="Par SMTP")
            smtp.sendmail(sender["address"], [reader["address"]], body)

    async def deliver() -> None:
        await asyncio.to_thread(submit)

    elapsed = await idle_until_exists(client, deliver, exists + 1)
    assert elapsed < 10
    fetched = text(await ok(client.fetch(str(exists + 1), "(ENVELOPE)")))
    assert "Par SMTP" in fetched


async def test_aioimaplib_idle_wakes_on_store_delivery(
    running: RunningOperator, client: aioimaplib.IMAP4_SSL
) -> None:
    reader = running.account("PER", **DOCTOR)
    folder = await new_folder(client)
    await ok(client.select(folder))

    async def deliver_through_store() -> None:
        store = running.operator.store
        body = message("a@example.org", reader["address"], subject="Par le store")
        [result] = await store.deliver(body, [Delivery(reader["address"], folder)])
        assert isinstance(result, Delivered)

    async def deliver() -> None:
        await asyncio.to_thread(running.call, deliver_through_store())

    await idle_until_exists(client, deliver, 1)
    assert "Par le store" in text(await ok(client.fetch("1", "(ENVELOPE)")))


async def test_aioimaplib_second_session_sees_changes(running: RunningOperator) -> None:
    one = await connect(running)
    two = await connect(running)
    folder = await new_folder(one)
    for n in range(3):
        await append(one, folder, message("a@example.org", "b@example.org", subject=f"S{n}"))
    await ok(one.select(folder))
    await ok(two.select(folder))
    await ok(one.store("2", "+FLAGS", "(\\Deleted)"))
    await ok(one.expunge())
    await append(one, folder, message("a@example.org", "b@example.org", subject="S3"))
    seen = text(await ok(two.noop()))
    assert has("2 EXPUNGE", seen)
    # Either order is right: "4 EXISTS" before the EXPUNGE, or "3 EXISTS" after it.
    assert has("3 EXISTS", seen) or seen.index("4 EXISTS") < seen.index("2 EXPUNGE")
    assert numbers(await ok(two.search("ALL"))) == [1, 2, 3]
    await hang_up(one)
    await hang_up(two)


# -- command-line clients -------------------------------------------------------------------


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (scripts/test.sh installs it)")
    return path


def seed(running: RunningOperator, subjects: list[str], flags: str = "") -> tuple[str, list[bytes]]:
    """A fresh folder of the doctor's with one message per subject (through the store)."""
    account = running.account("PER", **DOCTOR)["address"]
    folder = f"K{uuid.uuid4().hex[:8]}"
    bodies = [message("a@example.org", account, subject=s, body=f"{s}\n") for s in subjects]

    async def build() -> None:
        store = running.operator.store
        await store.create_folder(account, folder)
        for body in bodies:
            flagset = frozenset(flags.split()) if flags else frozenset()
            await store.deliver(body, [Delivery(account, folder, flagset)])

    running.call(build())
    return folder, bodies


def curl(running: RunningOperator, path: str, *extra: str) -> bytes:
    account = running.account("PER", **DOCTOR)
    port = running.port("imaps")
    command = [
        need("curl"),
        "--silent",
        "--show-error",
        "--max-time",
        "30",
        "--cacert",
        str(running.folder / running.manifest["ca_cert"]),
        "--resolve",
        f"localhost:{port}:127.0.0.1",
        "--user",
        f"{account['address']}:{account['password']}",
        *extra,
        f"imaps://localhost:{port}/{path}",
    ]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.external
def test_curl_lists_fetches_and_searches(running: RunningOperator) -> None:
    folder, bodies = seed(running, ["Premier", "Second resultat", "Troisieme"])
    listing = curl(running, "").decode()
    assert "INBOX" in listing
    assert folder in listing
    assert curl(running, f"{folder};UID=2") == bodies[1]  # a whole message, byte for byte
    section = curl(running, f"{folder};UID=3/;SECTION=HEADER.FIELDS%20(SUBJECT)")
    assert section.strip() == b"Subject: Troisieme"
    found = curl(running, f"{folder}?SUBJECT%20resultat").decode()
    assert found.split() == ["*", "SEARCH", "2"]
    examined = curl(running, folder, "--request", "EXAMINE " + folder).decode()
    assert "3 EXISTS" in examined


def mbsync_config(running: RunningOperator, home: Path, folder: str) -> Path:
    account = running.account("PER", **DOCTOR)
    (home / "mail").mkdir()
    config = home / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount demo
Host localhost
Port {running.port("imaps")}
User {account["address"]}
Pass {account["password"]}
SSLType IMAPS
CertificateFile {running.folder / running.manifest["ca_cert"]}

IMAPStore remote
Account demo

MaildirStore local
Path {home / "mail"}/
Inbox {home / "mail" / "INBOX"}
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns {folder}
Create Both
Expunge Both
SyncState *
"""
    )
    config.chmod(0o600)
    return config


def mbsync(config: Path) -> None:
    done = subprocess.run(
        [need("mbsync"), "--config", str(config), "--all", "--verbose"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")


def maildir_messages(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for sub in ("cur", "new") for p in sorted((folder / sub).iterdir())}


def canonical(body: bytes) -> bytes:
    """A message as mbsync keeps it compared: LF line ends, without its ``X-TUID`` tracking
    header (mbsync writes Maildir files with local line ends and tags messages it uploads)."""
    lines = body.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line for line in lines if not line.startswith(b"X-TUID: "))


@pytest.mark.external
def test_mbsync_syncs_a_mailbox_both_ways(running: RunningOperator, tmp_path: Path) -> None:
    folder, bodies = seed(running, [f"Sync {n}" for n in range(5)])
    config = mbsync_config(running, tmp_path, folder)
    mbsync(config)
    local = tmp_path / "mail" / folder
    pulled = maildir_messages(local)
    # The whole mailbox, byte for byte but for the line ends.
    assert sorted(map(canonical, pulled.values())) == sorted(map(canonical, bodies))

    # Near side: flag one message (Maildir "F" = \Flagged) and add a new one.
    first = next(p for p, body in pulled.items() if canonical(body) == canonical(bodies[0]))
    base = first.name.split(":2,")[0]
    first.rename(first.parent.parent / "cur" / f"{base}:2,F")
    new = message("a@example.org", "b@example.org", subject="Ecrit hors ligne")
    (local / "new" / f"{int(time.time())}.{uuid.uuid4().hex}.host").write_bytes(new)
    mbsync(config)

    account = running.account("PER", **DOCTOR)["address"]

    async def remote() -> list[tuple[frozenset[str], bytes]]:
        store = running.operator.store
        found = await store.get_folder(account, folder)
        assert found is not None
        records = await store.list_messages(found.id)
        return [(frozenset(r.flags), await store.get_body(found.id, r.uid)) for r in records]

    messages = running.call(remote())
    assert len(messages) == 6
    by_body = {canonical(body): flags for flags, body in messages}
    assert "\\Flagged" in by_body[canonical(bodies[0])]
    assert canonical(new) in by_body  # the message written on the near side was appended
    assert all(body.count(b"\n") == body.count(b"\r\n") for _, body in messages)  # CRLF


@pytest.mark.external
def test_mutt_reads_a_mailbox_in_batch_mode(running: RunningOperator, tmp_path: Path) -> None:
    folder, _ = seed(running, ["Lu par mutt"])
    account = running.account("PER", **DOCTOR)
    port = running.port("imaps")
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(
        f"""set imap_user="{account["address"]}"
set imap_pass="{account["password"]}"
set certificate_file="{tmp_path / "certificates"}"
set ssl_ca_certificates_file="{running.folder / running.manifest["ca_cert"]}"
set ssl_verify_host=yes
set header_cache=""
set message_cachedir=""
set mbox_type=mbox
set copy=no
set confirmcreate=no
set confirmappend=no
set quit=yes
set move=no
set delete=no
set mark_old=no
set wait_key=no
"""
    )
    out = tmp_path / "saved.mbox"
    mutt = [
        need("mutt"),
        "-n",
        "-F",
        str(muttrc),
        "-f",
        f"imaps://localhost:{port}/{folder}",
        "-e",
        f"push '<tag-pattern>~A<enter><tag-prefix><copy-message>{out}<enter><quit>'",
    ]
    # mutt only reads mailboxes on a terminal (without one it sends mail): script(1) gives it
    # a pseudo-terminal; the keys pushed above drive it and it quits on its own.
    done = subprocess.run(
        [need("script"), "--quiet", "--return", "--command", shlex.join(mutt), "/dev/null"],
        capture_output=True,
        timeout=30,
        check=False,
        env={"HOME": str(tmp_path), "TERM": "vt100", "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
    )
    assert out.exists(), (done.stdout + done.stderr).decode(errors="replace")
    assert b"Subject: Lu par mutt" in out.read_bytes()
