"""Any bytes → a value or a ``DocumentError``, never anything else (CDA, zip and XDM parsers)."""

from __future__ import annotations

import contextlib
import io
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from dmp_bridge.cda import parse_cda
from dmp_bridge.errors import DocumentError
from dmp_bridge.xdm import read_xdm
from dmp_bridge.xdm_build import build_xdm
from dmp_bridge.zipsafe import read_zip
from tests.conftest import DATA

ARCHIVE = build_xdm([(DATA / "cda" / "VAC_2023.01.xml").read_bytes()])
CDA_HEAD = (DATA / "cda" / "VAC_2023.01.xml").read_bytes()[:4000]


@given(st.binary(max_size=2000))
def test_cda_any_bytes(data: bytes) -> None:
    with contextlib.suppress(DocumentError):
        parse_cda(data)


@given(st.integers(0, len(CDA_HEAD)), st.binary(max_size=20))
@settings(max_examples=200)
def test_cda_mutated(position: int, junk: bytes) -> None:
    with contextlib.suppress(DocumentError):
        parse_cda(CDA_HEAD[:position] + junk + CDA_HEAD[position:])


@given(st.binary(max_size=2000))
def test_zip_any_bytes(data: bytes) -> None:
    with contextlib.suppress(DocumentError):
        read_zip(data)


@given(st.integers(0, len(ARCHIVE) - 1), st.integers(0, 255))
@settings(max_examples=200)
def test_xdm_with_one_byte_changed(position: int, value: int) -> None:
    damaged = bytearray(ARCHIVE)
    damaged[position] = value
    try:
        archive = read_xdm(bytes(damaged))
    except DocumentError:
        return
    assert len(archive.documents) == 1


# zipfile itself cannot write a name made of NUL characters only: keep NUL out of the names.
NAMES = st.text(
    st.characters(blacklist_characters="\x00", codec="utf-8"),
    min_size=1,
    max_size=30,
)


@given(st.dictionaries(NAMES, st.binary(max_size=50), max_size=5))
@settings(max_examples=100)
def test_zip_any_names(entries: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    try:
        files = read_zip(buffer.getvalue())
    except DocumentError:
        return
    assert all(".." not in name.split("/") for name in files)
