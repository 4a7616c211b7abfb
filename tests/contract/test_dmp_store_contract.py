"""One contract suite for every ``DmpStore``: memory, SQLite and PostgreSQL (DMP-DOC-1)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from dmp_bridge.cda import parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.errors import CorruptContent, UnknownDocument
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.memory import MemoryDmpStore
from dmp_bridge.store.models import DocumentStatus, NewDocument, StoredDocument, hl7_time
from dmp_bridge.store.sql import SqlDmpStore
from dmp_bridge.store.tables import contents, metadata
from tests.conftest import DATA

CDA_DIR = DATA / "cda"
NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)
REPLACEMENT = "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"  # RPLC of 90E1C8EC-…, version 2
OTHER_RPPS = "10000000000"

# file → (INS, class, rubric): DMP-CLASS-1/2 as the record must show them.
EXPECTED = {
    "BIO-CR-BIO_2024.01_TSH_1.xml": ("279035121518989", "10", "Résultats de biologie"),
    "CNAM-HR_2021.01.xml": ("279035121518989", "60", "Autres documents"),
    "CSE-CS8_2024.01.xml": ("223042545611404", "52", "Certificats médicaux"),
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": ("279035121518989", "10", "Résultats de biologie"),
    REPLACEMENT: ("279035121518989", "31", "Imagerie"),
    "LDL-SES_2022.01.xml": ("279035121518989", "10", "Comptes rendus"),
    "OBP-SCM_2024.01.xml": ("277076322082910", "11", "Ma santé en résumé"),
    "TLM-CR_2022.01.xml": ("279035121518989", "10", "Comptes rendus"),
    "VAC_2023.01.xml": ("279035121518989", "10", "Prévention et dépistage"),
    "VSM_1.4_2022.01.xml": ("279035121518989", "11", "Ma santé en résumé"),
    "eDISP-MED_2024.01.xml": ("277076322082910", "43", "Ordonnances et soins"),
    "eP-MED-DM_2024.01_PosoStruct.xml": ("279035121518989", "42", "Ordonnances et soins"),
}


class TestSealer:
    """AES-GCM bound to the blob id, like the real sealer; ``corrupt`` flips a plaintext byte
    on the way out (what an unauthenticated sealer over damaged storage would give)."""

    __test__ = False

    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=128))
        self.corrupt = False

    def seal(self, blob_id: str, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, blob_id.encode())

    def open(self, blob_id: str, sealed: bytes) -> bytes:
        plain = self._aead.decrypt(sealed[:12], sealed[12:], blob_id.encode())
        if self.corrupt and plain:
            return bytes([plain[0] ^ 0x01]) + plain[1:]
        return plain


def _clock() -> Callable[[], datetime]:
    ticks = iter(range(1_000_000))
    return lambda: NOW + timedelta(seconds=next(ticks))


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    fixture = "pg_engine" if backend == "postgres" else "sqlite_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


@pytest.fixture
def sealer() -> TestSealer:
    return TestSealer()


@pytest.fixture
async def store(engine: AsyncEngine | None, sealer: TestSealer) -> AsyncIterator[DmpStore]:
    if engine is None:
        yield MemoryDmpStore(sealer, clock=_clock())
        return
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield SqlDmpStore(engine, sealer, clock=_clock())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


def _cda(name: str) -> tuple[NewDocument, bytes]:
    content = (CDA_DIR / name).read_bytes()
    header = parse_cda(content)
    return NewDocument.from_cda(
        header, classify(header.type.code), source_message_id="<m@x>"
    ), content


async def _file_parent_of_replacement(store: DmpStore) -> tuple[NewDocument, StoredDocument]:
    """The version 1 that the replacement example replaces, by the same author."""
    new, _ = _cda(REPLACEMENT)
    assert new.replaces_unique_id is not None
    parent = dataclasses.replace(
        new, unique_id=new.replaces_unique_id, version=1, replaces_unique_id=None
    )
    await store.ensure_record(new.patient_ins)
    result = await store.file(parent, b"<ClinicalDocument>v1</ClinicalDocument>")
    return new, result.document


async def test_every_fixture_cda_lands_in_its_rubric(store: DmpStore) -> None:
    """DMP-DOC-1, DMP-CLASS-1/2: each fixture CDA is filed in its patient's record."""
    filed = {}
    for path in sorted(CDA_DIR.glob("*.xml")):
        document, content = _cda(path.name)
        await store.ensure_record(document.patient_ins)
        result = await store.file(document, content)
        assert not result.duplicate
        filed[path.name] = result.document
    assert set(filed) == set(EXPECTED)
    for name, (ins, class_code, rubric) in EXPECTED.items():
        stored = await store.get(filed[name].entry_id)
        content = (CDA_DIR / name).read_bytes()
        assert (stored.patient_ins, stored.class_code, stored.rubric) == (ins, class_code, rubric)
        assert stored.status is DocumentStatus.APPROVED
        assert stored.sha1 == hashlib.sha1(content, usedforsecurity=False).hexdigest()
        assert stored.size == len(content)
        assert stored.source_message_id == "<m@x>"
    listed = await store.list_documents("277076322082910")
    assert {d.unique_id for d in listed} == {
        filed["OBP-SCM_2024.01.xml"].unique_id,
        filed["eDISP-MED_2024.01.xml"].unique_id,
    }


async def test_dates_are_aware_utc(store: DmpStore) -> None:
    document, content = _cda("BIO-CR-BIO_2024.01_TSH_1.xml")
    await store.ensure_record(document.patient_ins)
    stored = await store.get((await store.file(document, content)).document.entry_id)
    assert stored.creation_time == datetime(2021, 4, 1, 16, 10, tzinfo=UTC)  # 17:10 +0100
    assert stored.submission_time.tzinfo is not None
    assert stored.submission_time.utcoffset() == timedelta(0)
    assert stored.submission_time >= NOW


async def test_filing_twice_gives_one_document(store: DmpStore) -> None:
    """DMP-DOC-1: de-duplication on uniqueId."""
    document, content = _cda("VAC_2023.01.xml")
    await store.ensure_record(document.patient_ins)
    first = await store.file(document, content)
    second = await store.file(dataclasses.replace(document, source_message_id="<n@x>"), content)
    assert second.duplicate
    assert second.document == first.document
    assert len(await store.list_documents(document.patient_ins, include_deprecated=True)) == 1


async def test_concurrent_filings_of_one_document_give_one(store: DmpStore) -> None:
    """DMP-DOC-1: the same document arriving twice at once is still one document."""
    document, content = _cda("LDL-SES_2022.01.xml")
    await store.ensure_record(document.patient_ins)
    results = await asyncio.gather(*(store.file(document, content) for _ in range(5)))
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert {r.document.entry_id for r in results} == {results[0].document.entry_id}
    assert len(await store.list_documents(document.patient_ins)) == 1


async def test_same_unique_id_for_another_patient_is_refused(store: DmpStore) -> None:
    document, content = _cda("VAC_2023.01.xml")
    other = dataclasses.replace(document, patient_ins="277076322082910")
    for ins in (document.patient_ins, other.patient_ins):
        await store.ensure_record(ins)
    await store.file(document, content)
    with pytest.raises(DocumentError) as caught:
        await store.file(other, content)
    assert caught.value.code is MdnCode.INS_MISMATCH
    assert await store.list_documents(other.patient_ins) == ()


async def test_filing_without_a_record_is_902(store: DmpStore) -> None:
    """DMP-MDN-1: unknown patient."""
    document, content = _cda("VAC_2023.01.xml")
    with pytest.raises(DocumentError) as caught:
        await store.file(document, content)
    assert caught.value.code is MdnCode.UNKNOWN_PATIENT


async def test_ensure_record_is_idempotent(store: DmpStore) -> None:
    first = await store.ensure_record("279035121518989")
    second = await store.ensure_record("279035121518989")
    assert first == second
    assert first.created_at.utcoffset() == timedelta(0)


async def test_replacement_deprecates_its_parent(store: DmpStore) -> None:
    """DMP-DOC-1: an RPLC deprecates the previous version; only the new one is listed."""
    new, parent = await _file_parent_of_replacement(store)
    result = await store.file(new, (CDA_DIR / REPLACEMENT).read_bytes())
    assert result.deprecated is not None
    assert result.deprecated.entry_id == parent.entry_id
    assert result.document.replaces == parent.entry_id
    assert (await store.get(parent.entry_id)).status is DocumentStatus.DEPRECATED
    assert [d.entry_id for d in await store.list_documents(new.patient_ins)] == [
        result.document.entry_id
    ]
    every = await store.list_documents(new.patient_ins, include_deprecated=True)
    assert {d.entry_id for d in every} == {parent.entry_id, result.document.entry_id}
    versions = await store.versions(new.set_id)
    assert [(d.version, d.status) for d in versions] == [
        (1, DocumentStatus.DEPRECATED),
        (2, DocumentStatus.APPROVED),
    ]


async def test_replacement_of_an_unknown_parent_is_filed_alone(store: DmpStore) -> None:
    """(chosen) a parent not in this store leaves nothing to deprecate."""
    new, content = _cda(REPLACEMENT)
    await store.ensure_record(new.patient_ins)
    result = await store.file(new, content)
    assert result.deprecated is None
    assert result.document.replaces is None
    assert result.document.replaces_unique_id == new.replaces_unique_id


async def test_replacement_by_another_author_is_901(store: DmpStore) -> None:
    """DMP-DOC-1, DMP-MDN-1: only the author may replace; nothing is filed."""
    new, parent = await _file_parent_of_replacement(store)
    intruder = dataclasses.replace(new, author_id=OTHER_RPPS, author_org="other-org")
    with pytest.raises(DocumentError) as caught:
        await store.file(intruder, (CDA_DIR / REPLACEMENT).read_bytes())
    assert caught.value.code is MdnCode.NOT_AUTHOR
    assert (await store.get(parent.entry_id)).status is DocumentStatus.APPROVED
    assert [d.entry_id for d in await store.list_documents(new.patient_ins)] == [parent.entry_id]


async def test_replacement_by_the_authors_organisation_is_allowed(store: DmpStore) -> None:
    """DMP-DOC-1: the author's organisation may replace too."""
    new, parent = await _file_parent_of_replacement(store)
    colleague = dataclasses.replace(new, author_id=OTHER_RPPS)
    result = await store.file(colleague, (CDA_DIR / REPLACEMENT).read_bytes())
    assert result.deprecated is not None
    assert (await store.get(parent.entry_id)).status is DocumentStatus.DEPRECATED


async def test_replacing_a_deprecated_version_is_900(store: DmpStore) -> None:
    """DMP-DOC-1, DMP-MDN-1: only the latest version may be replaced."""
    new, _ = await _file_parent_of_replacement(store)
    await store.file(new, (CDA_DIR / REPLACEMENT).read_bytes())
    late = dataclasses.replace(new, unique_id=f"{new.unique_id}.late", version=3)
    with pytest.raises(DocumentError) as caught:
        await store.file(late, b"<ClinicalDocument>v3</ClinicalDocument>")
    assert caught.value.code is MdnCode.NOT_LATEST_VERSION
    assert len(await store.versions(new.set_id)) == 2


async def test_logical_deletion_by_the_author(store: DmpStore) -> None:
    """DMP-DOC-1: deletion is logical and keeps hash and size."""
    document, content = _cda("TLM-CR_2022.01.xml")
    await store.ensure_record(document.patient_ins)
    filed = (await store.file(document, content)).document
    deleted = await store.delete(filed.entry_id, document.author_id, None)
    assert deleted.status is DocumentStatus.DELETED
    again = await store.get(filed.entry_id)
    assert again == deleted
    assert (again.sha1, again.size) == (filed.sha1, filed.size)
    assert await store.list_documents(document.patient_ins, include_deprecated=True) == ()
    assert [d.status for d in await store.versions(document.set_id)] == [DocumentStatus.DELETED]
    assert await store.delete(filed.entry_id, document.author_id, None) == deleted


async def test_deletion_by_another_is_901(store: DmpStore) -> None:
    """DMP-DOC-1, DMP-MDN-1: only the author (or the author's organisation) may delete."""
    document, content = _cda("TLM-CR_2022.01.xml")
    await store.ensure_record(document.patient_ins)
    filed = (await store.file(document, content)).document
    with pytest.raises(DocumentError) as caught:
        await store.delete(filed.entry_id, OTHER_RPPS, "other-org")
    assert caught.value.code is MdnCode.NOT_AUTHOR
    assert (await store.get(filed.entry_id)).status is DocumentStatus.APPROVED
    by_org = await store.delete(filed.entry_id, OTHER_RPPS, document.author_org)
    assert by_org.status is DocumentStatus.DELETED


async def test_deleting_a_deprecated_version_is_900(store: DmpStore) -> None:
    new, parent = await _file_parent_of_replacement(store)
    await store.file(new, (CDA_DIR / REPLACEMENT).read_bytes())
    with pytest.raises(DocumentError) as caught:
        await store.delete(parent.entry_id, parent.author_id, None)
    assert caught.value.code is MdnCode.NOT_LATEST_VERSION


async def test_unknown_entry_id(store: DmpStore) -> None:
    with pytest.raises(UnknownDocument):
        await store.get(uuid4())
    with pytest.raises(UnknownDocument):
        await store.delete(uuid4(), OTHER_RPPS, None)


async def test_content_round_trip_is_byte_identical(store: DmpStore) -> None:
    """DMP-DOC-1: the content comes back as filed, its hash checked."""
    document, content = _cda("eP-MED-DM_2024.01_PosoStruct.xml")
    await store.ensure_record(document.patient_ins)
    filed = (await store.file(document, content)).document
    assert await store.content(filed.entry_id) == content


async def test_tampered_content_is_detected(store: DmpStore, sealer: TestSealer) -> None:
    """DMP-DOC-1: content that no longer matches its SHA-1/SHA-256 is refused."""
    document, content = _cda("VSM_1.4_2022.01.xml")
    await store.ensure_record(document.patient_ins)
    filed = (await store.file(document, content)).document
    sealer.corrupt = True
    with pytest.raises(CorruptContent):
        await store.content(filed.entry_id)


async def test_tampered_row_is_detected(sql_engine: AsyncEngine) -> None:
    """A sealed content altered in the database does not open."""
    async with sql_engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    store = SqlDmpStore(sql_engine, TestSealer())
    document, content = _cda("VSM_1.4_2022.01.xml")
    await store.ensure_record(document.patient_ins)
    filed = (await store.file(document, content)).document
    async with sql_engine.begin() as conn:
        await conn.execute(
            update(contents).where(contents.c.sha256 == filed.content_key).values(content=b"x" * 40)
        )
    with pytest.raises(CorruptContent):
        await store.content(filed.entry_id)
    async with sql_engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20210401171000+0100", datetime(2021, 4, 1, 16, 10, tzinfo=UTC)),
        ("20210401", datetime(2021, 3, 31, 22, 0, tzinfo=UTC)),  # Paris, summer time
        ("2021", datetime(2020, 12, 31, 23, 0, tzinfo=UTC)),
        ("not a time", None),
        ("20211341", None),
    ],
)
def test_hl7_time(value: str, expected: datetime | None) -> None:
    assert hl7_time(value) == expected


def test_fixture_files_are_all_expected() -> None:
    assert {p.name for p in Path(CDA_DIR).glob("*.xml")} == set(EXPECTED)
