"""Read a zip archive from memory, refusing anything hostile (SEC-IN-2); nothing touches the disk.

Caps: archive size, entry count, per-entry and total uncompressed bytes (counted while reading,
never taken from the headers) and compression ratio. Refused: encrypted entries, symbolic links,
absolute paths, ``..``, backslash or drive-letter tricks, duplicate names (case-insensitively),
compression methods other than stored/deflated, and nested zips (by name or by content).
Names are returned lower-cased (DMP-XDM-1 matches names case-insensitively).
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass

from dmp_bridge.errors import HostileInput

_CHUNK = 64 * 1024
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ALLOWED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """SEC-IN-2 caps; the defaults suit MSSanté attachments (a message is capped well below)."""

    max_zip_bytes: int = 64 * 1024 * 1024
    max_entries: int = 1000
    max_entry_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024
    max_ratio: int = 100
    ratio_floor_bytes: int = 1024 * 1024  # the ratio is checked once an entry is past this size


def read_zip(data: bytes, limits: ZipLimits | None = None) -> dict[str, bytes]:
    """Every file entry of the zip ``data`` by lower-cased name; ``HostileInput`` if refused."""
    limits = limits or ZipLimits()
    if len(data) > limits.max_zip_bytes:
        raise HostileInput(f"the zip is larger than {limits.max_zip_bytes} bytes")  # SEC-IN-2
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _read_entries(archive, limits)
    except HostileInput:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise HostileInput(f"the zip is damaged: {type(exc).__name__}") from None
    except RuntimeError:  # zipfile's "encrypted, password required"
        raise HostileInput("the zip has an encrypted entry") from None


def _read_entries(archive: zipfile.ZipFile, limits: ZipLimits) -> dict[str, bytes]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise HostileInput(f"the zip has more than {limits.max_entries} entries")  # SEC-IN-2
    files: dict[str, bytes] = {}
    total = 0
    for info in infos:
        name = _checked_name(info)
        if info.is_dir():
            continue
        if name in files:
            raise HostileInput("the zip has two entries with the same name")
        content = _read_entry(archive, info, limits, limits.max_total_bytes - total)
        total += len(content)
        files[name] = content
    return files


def _checked_name(info: zipfile.ZipInfo) -> str:
    """SEC-IN-2: the entry's lower-cased name, or ``HostileInput`` for anything path-like."""
    if info.flag_bits & 0x1:
        raise HostileInput("the zip has an encrypted entry")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise HostileInput("the zip has a symbolic link entry")
    if info.compress_type not in _ALLOWED_METHODS:
        raise HostileInput("the zip uses a compression method other than stored or deflated")
    name = info.orig_filename
    if "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise HostileInput("the zip has an absolute or non-portable entry path")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise HostileInput("the zip has an entry path with '..' or empty parts")
    if not info.is_dir() and parts[-1].lower().endswith((".zip", ".jar")):
        raise HostileInput("the zip contains another zip")
    return name.lower()


def _read_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, total_left: int
) -> bytes:
    cap = min(limits.max_entry_bytes, total_left)
    packed = max(min(info.compress_size, limits.max_zip_bytes), 1)  # a header may lie
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > cap:  # SEC-IN-2: counted while reading, headers are not trusted
                raise HostileInput("a zip entry inflates past the size cap (zip bomb)")
            if size > limits.ratio_floor_bytes and size > limits.max_ratio * packed:
                raise HostileInput("a zip entry's compression ratio is too high (zip bomb)")
            chunks.append(chunk)
    content = b"".join(chunks)
    if content.startswith(_ZIP_MAGICS):
        raise HostileInput("the zip contains another zip")  # SEC-IN-2
    return content
