"""Peak server memory of FETCH BINARY on a large base64 attachment (RFC 3516, issue 3).

Starts the demo operator in this process, APPENDs one message with a base64 attachment of
``--mb`` MiB, then for each FETCH item resets this process's peak RSS (``/proc/self/clear_refs``),
runs the FETCH from a separate client process (so the client's copy is not counted) and prints
how far the server's peak RSS rose above its resident size before the command.

    python bench/binary_rss.py --mb 25
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.protocol.harness import RunningOperator

ITEMS = (
    "BODY.PEEK[]<0.10>",
    "BINARY.SIZE[2]",
    "BINARY.PEEK[2]<1000.100>",
    "BINARY.PEEK[2]",
    "BODY.PEEK[2]",
)
CLIENT = """
import imaplib, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
imap = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
imap.login(sys.argv[3], sys.argv[4]); imap.select(sys.argv[5])
start = time.perf_counter()
typ, data = imap.fetch("1", "(" + sys.argv[6] + ")")
took = time.perf_counter() - start
size = sum(len(p[1]) for p in data if isinstance(p, tuple))
print(typ, size, round(took, 3)); imap.logout()
"""


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise LookupError(field)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=25)
    args = parser.parse_args()
    payload = bytes(range(256)) * (args.mb * 4096)
    message = (
        b'Subject: big\r\nContent-Type: multipart/mixed; boundary="z"\r\n\r\n'
        b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--z\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(payload).replace(b"\n", b"\r\n")
        + b"--z--\r\n"
    )
    del payload
    with tempfile.TemporaryDirectory() as folder:
        running = RunningOperator(Path(folder)).start()
        try:
            account = running.account("PER", rpps="10001234567")
            running.call(
                running.operator.store.deliver(message, [_delivery(account["address"])], None)
            )
            del message
            ca = str(running.folder / running.manifest["ca_cert"])
            port = str(running.port("imaps"))
            for item in ITEMS:
                Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
                time.sleep(0.2)
                before = _status("VmRSS")
                result = subprocess.run(
                    [sys.executable, "-c", CLIENT, port, ca, *_who(account), "INBOX", item],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                peak = _status("VmHWM")
                print(
                    f"{item:28} rss_before={before} MiB peak={peak} MiB "
                    f"rise={peak - before} MiB client: {result.stdout.strip()}"
                )
        finally:
            running.stop()


def _who(account: dict[str, str]) -> tuple[str, str]:
    return account["address"], account["password"]


def _delivery(address: str) -> object:
    from mailbox_store.models import Delivery

    return Delivery(address, "INBOX", frozenset())


if __name__ == "__main__":
    main()
