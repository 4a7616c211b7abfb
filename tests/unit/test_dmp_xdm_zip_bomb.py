"""SEC-IN-2: zip bombs (ratio and absolute size), too many entries, oversized archives."""

from __future__ import annotations

import io
import zipfile

import pytest

from dmp_bridge.errors import HostileInput
from dmp_bridge.xdm import read_xdm
from dmp_bridge.zipsafe import ZipLimits, read_zip


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def test_sec_in_2_ratio_bomb_is_refused() -> None:
    """SEC-IN-2: 8 MiB of zeros (~1000:1) is refused by the ratio cap while inflating."""
    bomb = _zip({"IHE_XDM/SUBSET01/METADATA.XML": bytes(8 * 1024 * 1024)})
    with pytest.raises(HostileInput, match="ratio"):
        read_xdm(bomb)


def test_sec_in_2_absolute_size_bomb_is_refused() -> None:
    """SEC-IN-2: an entry inflating past the per-entry cap is refused, whatever its ratio."""
    limits = ZipLimits(max_entry_bytes=200_000, max_ratio=1_000_000)
    with pytest.raises(HostileInput, match="size cap"):
        read_zip(_zip({"a.xml": bytes(300_000)}), limits)


def test_sec_in_2_total_size_is_capped() -> None:
    limits = ZipLimits(max_entry_bytes=200_000, max_total_bytes=250_000, max_ratio=1_000_000)
    archive = _zip({"a.xml": bytes(150_000), "b.xml": bytes(150_000)})
    with pytest.raises(HostileInput, match="size cap"):
        read_zip(archive, limits)


def test_sec_in_2_size_is_counted_not_read_from_headers() -> None:
    """A central directory that under-states the size cannot smuggle extra bytes through."""
    archive = bytearray(_zip({"a.xml": b"x" * 5000}))
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
        info = zf.getinfo("a.xml")
    # Patch the uncompressed size in the central directory entry to 10 bytes.
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    assert info.file_size == 5000
    with pytest.raises(HostileInput, match="damaged"):
        read_zip(bytes(archive))


def test_sec_in_2_ten_thousand_entries_are_refused() -> None:
    entries = {f"IHE_XDM/SUBSET01/F{i:05d}.XML": b"" for i in range(10_000)}
    with pytest.raises(HostileInput, match="entries"):
        read_xdm(_zip(entries))


def test_sec_in_2_oversized_archive_is_refused_before_opening() -> None:
    with pytest.raises(HostileInput, match="larger"):
        read_zip(b"PK" + bytes(2000), ZipLimits(max_zip_bytes=1000))


def test_not_a_zip_is_refused() -> None:
    with pytest.raises(HostileInput, match="damaged"):
        read_zip(b"this is not a zip at all")


def test_small_archive_within_limits_is_read() -> None:
    assert read_zip(_zip({"A/B.XML": b"<a/>"})) == {"a/b.xml": b"<a/>"}
