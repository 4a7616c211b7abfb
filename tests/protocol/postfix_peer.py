"""A private Postfix instance playing a peer operator, on loopback high ports (Debian ``postfix``).

Everything lives in one temporary folder: ``conf/`` (main.cf, master.cf, maps), ``queue/``,
``data/``, ``mail/`` (one Maildir receiving every local mailbox) and ``postfix.log``. Postfix runs
as root with its own ``mail_owner`` (``postfix``) and ``setgid_group`` (``postdrop``); no chroot.

Listeners: ``mx_port`` (STARTTLS mandatory, a client certificate chaining to ``ca`` required:
``smtpd_tls_req_ccert``) and ``submit_port`` (plain, loopback only, used by tests to inject
mail). The client side delivers with ``smtp_tls_security_level = secure`` and its own client
certificate; ``transport`` entries route recipient addresses or domains to us, and the
``smtp-unlisted`` transport presents a second client certificate (one not on our whitelist).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mss import pki

POSTFIX = "/usr/sbin/postfix"
MAIL_OWNER = "postfix"
START_TIMEOUT = 20.0


def available() -> bool:
    return os.geteuid() == 0 and Path(POSTFIX).exists() and shutil.which("postconf") is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PostfixCerts:
    server: pki.Issued  # smtpd
    client: pki.Issued  # smtp, listed on our whitelist
    unlisted: pki.Issued  # smtp-unlisted, chains to the CA, not listed
    ca: Path


class PostfixPeer:
    def __init__(
        self,
        *,
        domain: str,
        certs: PostfixCerts,
        transport: Mapping[str, str],
        tls_match: str,
    ) -> None:
        self.domain = domain
        self.hostname = f"mx.{domain}"
        self.certs = certs
        self.root = Path(tempfile.mkdtemp(prefix="mss-postfix-", dir="/tmp"))
        self.root.chmod(0o755)  # the virtual delivery agent runs as postfix
        self.conf = self.root / "conf"
        self.maildir = self.root / "mail" / "inbox"
        self.log = self.root / "postfix.log"
        self.mx_port = free_port()
        self.submit_port = free_port()
        self._transport = dict(transport)
        self._tls_match = tls_match

    def start(self) -> PostfixPeer:
        for name in ("conf", "queue", "data", "mail"):
            (self.root / name).mkdir()
        for name in ("data", "mail"):  # written by Postfix daemons, which run as mail_owner
            shutil.chown(self.root / name, MAIL_OWNER, MAIL_OWNER)
        self._write_config()
        self._postfix("check")
        self._postfix("start")
        self._wait_listening(self.mx_port)
        self._wait_listening(self.submit_port)
        return self

    def stop(self) -> None:
        """Stop the instance, wait for its master process to exit, and remove the folder."""
        pid = self._master_pid()
        with contextlib.suppress(subprocess.SubprocessError, OSError, RuntimeError):
            self._postfix("stop")
        deadline = time.monotonic() + START_TIMEOUT
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)

    def _master_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        return None

    def messages(self) -> list[bytes]:
        """Messages delivered to the Maildir, oldest first."""
        new = self.maildir / "new"
        if not new.is_dir():
            return []
        files = sorted(new.iterdir(), key=lambda path: path.stat().st_mtime_ns)
        return [path.read_bytes() for path in files]

    def wait_for(self, predicate: Callable[[bytes], bool], seconds: float = 30.0) -> bytes:
        """The first delivered message for which ``predicate(bytes)`` holds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for raw in self.messages():
                if predicate(raw):
                    return raw
            self._flush()
            time.sleep(0.1)
        raise TimeoutError(f"no such message in Postfix's Maildir; log:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, needle: str, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.log_text()
            if needle in text:
                return text
            self._flush()
            time.sleep(0.1)
        raise TimeoutError(f"{needle!r} not in Postfix's log:\n{self.log_text()}")

    def _flush(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._postfix("flush")

    def _postfix(self, command: str) -> None:
        done = subprocess.run(
            [POSTFIX, "-c", str(self.conf), command],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"postfix {command} failed: {done.stderr.strip()}")

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.05)
        raise TimeoutError(f"Postfix is not listening on {port}; log:\n{self.log_text()}")

    def _write_config(self) -> None:
        (self.conf / "main.cf").write_text(self._main_cf())
        (self.conf / "master.cf").write_text(self._master_cf())
        lines = [f"{key} {value}" for key, value in self._transport.items()]
        (self.conf / "transport").write_text("\n".join(lines) + "\n")
        policy = [f"{next_hop} secure match={self._tls_match}" for next_hop in self._next_hops()]
        (self.conf / "tls_policy").write_text("\n".join(policy) + "\n")

    def _next_hops(self) -> set[str]:
        return {value.split(":", 1)[1] for value in self._transport.values()}

    def _main_cf(self) -> str:
        certs, conf = self.certs, self.conf
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.root / "queue",
            "data_directory": self.root / "data",
            "meta_directory": "/etc/postfix",
            "mail_owner": MAIL_OWNER,
            "setgid_group": "postdrop",
            "syslog_name": "postfix-mss-test",
            "maillog_file": self.log,
            "maillog_file_prefixes": self.root,
            "myhostname": self.hostname,
            "mydomain": self.domain,
            "myorigin": self.domain,
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": self.root / "mail",
            "virtual_mailbox_maps": "static:inbox/",
            "virtual_uid_maps": f"static:{_uid(MAIL_OWNER)}",
            "virtual_gid_maps": f"static:{_gid(MAIL_OWNER)}",
            "transport_maps": f"texthash:{conf / 'transport'}",
            "smtp_tls_policy_maps": f"texthash:{conf / 'tls_policy'}",
            # MSS-TLS-1 on both sides: TLS 1.2 or 1.3 only.
            "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
            "smtpd_tls_protocols": ">=TLSv1.2",
            "smtp_tls_mandatory_protocols": ">=TLSv1.2",
            "smtp_tls_protocols": ">=TLSv1.2",
            "smtpd_tls_cert_file": certs.server.cert_path,
            "smtpd_tls_key_file": certs.server.key_path,
            "smtpd_tls_CAfile": certs.ca,
            "smtp_tls_cert_file": certs.client.cert_path,
            "smtp_tls_key_file": certs.client.key_path,
            "smtp_tls_CAfile": certs.ca,
            "smtp_tls_security_level": "secure",
            "smtp_tls_loglevel": "1",
            "smtpd_tls_loglevel": "1",
            "smtp_helo_name": self.hostname,
            "bounce_queue_lifetime": "0",
            "maximal_queue_lifetime": "0",  # one attempt: a refusal bounces at once
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtputf8_enable": "no",
        }
        return "".join(f"{key} = {value}\n" for key, value in settings.items())

    def _master_cf(self) -> str:
        mx = (
            f"127.0.0.1:{self.mx_port} inet n - n - - smtpd\n"
            "  -o smtpd_tls_security_level=encrypt\n"
            "  -o smtpd_tls_ask_ccert=yes\n"
            "  -o smtpd_tls_req_ccert=yes\n"
            "  -o smtpd_client_restrictions=permit_tls_all_clientcerts,reject\n"
        )
        submit = (
            f"127.0.0.1:{self.submit_port} inet n - n - - smtpd\n"
            "  -o smtpd_tls_security_level=none\n"
        )
        unlisted = (
            "smtp-unlisted unix - - n - - smtp\n"
            f"  -o smtp_tls_cert_file={self.certs.unlisted.cert_path}\n"
            f"  -o smtp_tls_key_file={self.certs.unlisted.key_path}\n"
        )
        services = [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        return mx + submit + unlisted + "\n".join(services) + "\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _gid(user: str) -> int:
    return pwd.getpwnam(user).pw_gid
