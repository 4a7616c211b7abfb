"""DKIM signing keys: generation (RSA-2048, or Ed25519), PEM files readable by us only (mode 0600)
and the DNS TXT record that publishes the public half (RFC 6376 §3.6.1, RFC 8463 §4.2)."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

KeyKind = Literal["rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

RSA_BITS = 2048  # RFC 8301 §3.2: signers SHOULD use 2048 bits
MIN_RSA_BITS = 1024  # RFC 8301 §3.2: smaller keys are refused
TXT_STRING_MAX = 255  # RFC 1035 §3.3: one <character-string> holds at most 255 octets
KEY_FILE_MODE = 0o600
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class DkimError(Exception):
    """A key, message or parameter DKIM cannot work with (never a verification outcome)."""


@dataclass(frozen=True, eq=False)
class DkimKey:
    """A private signing key; its repr never shows the key material."""

    private_key: PrivateKey

    @property
    def kind(self) -> KeyKind:
        return "rsa" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ed25519"

    @property
    def algorithm(self) -> bytes:
        """The ``a=`` tag of signatures made with this key."""
        return b"rsa-sha256" if self.kind == "rsa" else b"ed25519-sha256"

    def private_pem(self) -> bytes:
        """PEM, unencrypted: PKCS#1 for RSA (what dkimpy and OpenDKIM read), PKCS#8 for Ed25519."""
        fmt = (
            serialization.PrivateFormat.TraditionalOpenSSL
            if self.kind == "rsa"
            else serialization.PrivateFormat.PKCS8
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, fmt, serialization.NoEncryption()
        )

    def signing_secret(self) -> bytes:
        """The key as dkimpy's signer takes it: PKCS#1 PEM, or the base64 Ed25519 seed."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_pem()
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw)

    def public_b64(self) -> str:
        """The ``p=`` value: base64 SubjectPublicKeyInfo (RSA) or raw public key (Ed25519)."""
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            der = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return base64.b64encode(der).decode("ascii")
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")  # RFC 8463 §4.2


def generate_key(kind: KeyKind = "rsa") -> DkimKey:
    """A fresh key: RSA-2048 (e = 65537) by default, or Ed25519 (RFC 8463)."""
    if kind == "rsa":
        return DkimKey(rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))
    if kind == "ed25519":
        return DkimKey(ed25519.Ed25519PrivateKey.generate())
    raise DkimError(f"unknown key kind {kind!r}")


def key_from_pem(pem: bytes) -> DkimKey:
    """Parse an unencrypted PEM private key (PKCS#1 or PKCS#8), RSA ≥ 1024 bits or Ed25519."""
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimError("not an unencrypted PEM private key") from exc
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < MIN_RSA_BITS:
            raise DkimError(f"RSA key too small ({private.key_size} bits)")
        return DkimKey(private)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return DkimKey(private)
    raise DkimError("DKIM keys are RSA or Ed25519")


def save_key(key: DkimKey, path: Path, *, overwrite: bool = False) -> None:
    """Write the PEM with mode 0600; an existing file is kept unless ``overwrite``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, KEY_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), KEY_FILE_MODE)  # an existing file may have had a wider mode
        out.write(key.private_pem())
        out.flush()
        os.fsync(out.fileno())


def load_key(path: Path) -> DkimKey:
    """Read a key written by :func:`save_key` (or any unencrypted RSA/Ed25519 PEM)."""
    return key_from_pem(path.read_bytes())


def dns_record(selector: str, domain: str, key: DkimKey) -> tuple[str, str]:
    """(TXT record name, zone-file value) publishing ``key`` for ``selector`` in ``domain``.

    The value is ``v=DKIM1; k=…; p=…`` cut into quoted strings of at most 255 characters,
    separated by spaces, as BIND zone files want a long TXT record (RFC 6376 §3.6.2.2: the
    strings are concatenated by the verifier).
    """
    for what, name in (("selector", selector), ("domain", domain)):
        if DNS_NAME.fullmatch(name) is None:
            raise DkimError(f"invalid {what} {name!r}")
    value = f"v=DKIM1; k={key.kind}; p={key.public_b64()}"
    quoted = " ".join(f'"{chunk}"' for chunk in txt_strings(value))
    return f"{selector}._domainkey.{domain}", quoted


def txt_strings(value: str) -> list[str]:
    """``value`` cut into character-strings of at most 255 octets (ASCII only)."""
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)]
