"""SEC-IN-2 and DMP-XDM-1: path tricks, links, encryption and nested zips are refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from dmp_bridge.errors import HostileInput
from dmp_bridge.zipsafe import read_zip


def _zip_infos(*entries: tuple[zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, content in entries:
            zf.writestr(info, content)
    return buffer.getvalue()


def _zip(name: str, content: bytes = b"<a/>") -> bytes:
    return _zip_infos((zipfile.ZipInfo(name), content))


@pytest.mark.parametrize(
    "name",
    [
        "IHE_XDM/SUBSET01/../../evil.xml",
        "../evil.xml",
        "IHE_XDM/./SUBSET01/METADATA.XML",
        "IHE_XDM//SUBSET01/METADATA.XML",
    ],
)
def test_sec_in_2_dot_dot_paths_are_refused(name: str) -> None:
    with pytest.raises(HostileInput, match=r"'\.\.'"):
        read_zip(_zip(name))


@pytest.mark.parametrize("name", ["/etc/passwd", "C:/evil.xml", "IHE_XDM\\..\\evil.xml"])
def test_sec_in_2_absolute_paths_are_refused(name: str) -> None:
    info = zipfile.ZipInfo("placeholder")
    info.filename = info.orig_filename = name
    with pytest.raises(HostileInput, match="absolute"):
        read_zip(_zip_infos((info, b"x")))


def test_sec_in_2_symlink_entries_are_refused() -> None:
    info = zipfile.ZipInfo("IHE_XDM/SUBSET01/DOC0001.XML")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    with pytest.raises(HostileInput, match="symbolic link"):
        read_zip(_zip_infos((info, b"/etc/passwd")))


def test_sec_in_2_encrypted_entries_are_refused() -> None:
    archive = bytearray(_zip("IHE_XDM/SUBSET01/DOC0001.XML"))
    # Set bit 0 (encrypted) of the general purpose flags in local and central headers.
    local, central = archive.find(b"PK\x03\x04"), archive.rfind(b"PK\x01\x02")
    archive[local + 6] |= 0x01
    archive[central + 8] |= 0x01
    with pytest.raises(HostileInput, match="encrypted"):
        read_zip(bytes(archive))


def test_sec_in_2_nested_zip_by_name_is_refused() -> None:
    with pytest.raises(HostileInput, match="another zip"):
        read_zip(_zip("IHE_XDM/SUBSET01/INNER.ZIP", b"anything"))


def test_sec_in_2_nested_zip_by_content_is_refused() -> None:
    inner = _zip("a.xml")
    with pytest.raises(HostileInput, match="another zip"):
        read_zip(_zip("IHE_XDM/SUBSET01/DOC0001.XML", inner))


def test_duplicate_names_differing_in_case_are_refused() -> None:
    archive = _zip_infos((zipfile.ZipInfo("A.XML"), b"1"), (zipfile.ZipInfo("a.xml"), b"2"))
    with pytest.raises(HostileInput, match="same name"):
        read_zip(archive)


def test_other_compression_methods_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("a.xml", b"<a/>")
    with pytest.raises(HostileInput, match="compression method"):
        read_zip(buffer.getvalue())
