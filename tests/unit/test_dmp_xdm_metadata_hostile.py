"""SEC-IN-1 in METADATA.XML, and DMP-XDM-2 integrity: hash, size and URI are checked."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from dmp_bridge.errors import DocumentError, HostileInput
from dmp_bridge.xdm import read_xdm
from dmp_bridge.xdm_build import build_xdm
from tests.conftest import DATA

META = "IHE_XDM/SUBSET01/METADATA.XML"


def _entries() -> dict[str, bytes]:
    archive = build_xdm([(DATA / "cda" / "VSM_1.4_2022.01.xml").read_bytes()])
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _with_metadata(change: bytes | None = None, **slots: bytes) -> bytes:
    entries = _entries()
    meta = entries[META] if change is None else change
    for name, value in slots.items():
        pattern = rb'(<rim:Slot name="' + name.encode() + rb'"><rim:ValueList><rim:Value>)[^<]*'
        meta = re.sub(pattern, rb"\g<1>" + value, meta)
    entries[META] = meta
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _prefixed(doctype: bytes, reference: bytes) -> bytes:
    meta = _entries()[META].replace(b"<?xml version='1.0' encoding='UTF-8'?>", b"")
    meta = meta.replace(
        b'<rim:LocalizedString value="', b'<rim:LocalizedString value="' + reference, 1
    )
    return doctype + meta


def test_sec_in_1_xxe_in_metadata_is_refused() -> None:
    doctype = b'<!DOCTYPE lcm:SubmitObjectsRequest [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    with pytest.raises(HostileInput, match="DOCTYPE"):
        read_xdm(_with_metadata(_prefixed(doctype, b"&x;")))


def test_sec_in_1_billion_laughs_in_metadata_is_refused() -> None:
    entities = b"".join(
        b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">'
        % ((i,) + (i - 1,) * 10)
        for i in range(1, 10)
    )
    doctype = b'<!DOCTYPE r [<!ENTITY l0 "lol">' + entities + b"]>"
    with pytest.raises(HostileInput):
        read_xdm(_with_metadata(_prefixed(doctype, b"&l9;")))


def test_sec_in_1_doctype_in_metadata_is_refused() -> None:
    with pytest.raises(HostileInput, match="DOCTYPE"):
        read_xdm(_with_metadata(_prefixed(b"<!DOCTYPE r>", b"")))


def test_dmp_xdm_2_hash_mismatch_is_refused() -> None:
    with pytest.raises(DocumentError, match="SHA-1"):
        read_xdm(_with_metadata(hash=b"0" * 40))


def test_dmp_xdm_2_size_mismatch_is_refused() -> None:
    with pytest.raises(DocumentError, match="size"):
        read_xdm(_with_metadata(size=b"12"))


@pytest.mark.parametrize("uri", [b"../../README.TXT", b"/etc/passwd", b"file:///etc/passwd"])
def test_dmp_xdm_1_uri_leaving_its_folder_is_refused(uri: bytes) -> None:
    with pytest.raises(HostileInput, match="outside"):
        read_xdm(_with_metadata(URI=uri))


def test_metadata_that_is_not_a_submit_objects_request_is_refused() -> None:
    with pytest.raises(DocumentError, match="SubmitObjectsRequest"):
        read_xdm(_with_metadata(b"<Other/>"))
