"""``DmpStore.file_all`` on every store (memory, SQLite, PostgreSQL): a submission's documents
and their traces in one transaction, all or nothing (DMP-DOC-1, DMP-AUD-1), and submissions
that share a transaction (SQLite groups the ones waiting for their turn) never affect one another.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dmp_bridge.access import DmpAccess
from dmp_bridge.access.service import filing_audit
from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.access_models import Action, NotificationKind
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.memory import MemoryDmpStore
from dmp_bridge.store.models import DocumentStatus, Filing, FilingResult
from dmp_bridge.store.sql import SqlDmpStore
from dmp_bridge.store.tables import metadata
from tests.contract.test_dmp_store_contract import (
    CDA_DIR,
    OTHER_RPPS,
    REPLACEMENT,
    TestSealer,
    _cda,
    _clock,
    _file_parent_of_replacement,
)

NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    fixture = "pg_engine" if backend == "postgres" else "sqlite_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def store(engine: AsyncEngine | None) -> AsyncIterator[DmpStore]:
    if engine is None:
        yield MemoryDmpStore(TestSealer(), clock=_clock())
        return
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield SqlDmpStore(engine, TestSealer(), clock=_clock())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


def _filing(name: str, **changes: object) -> Filing:
    document, content = _cda(name)
    return Filing(dataclasses.replace(document, **changes), content)  # type: ignore[arg-type]


async def test_dmp_aud_1_documents_and_traces_in_one_call(store: DmpStore) -> None:
    """Each filed document comes with its trace and the patient's notification; a duplicate
    within the submission is traced but not notified (DMP-DOC-1, DMP-AUD-1)."""
    vac, bio = _filing("VAC_2023.01.xml"), _filing("BIO-CR-BIO_2024.01_TSH_1.xml")
    ins = vac.document.patient_ins
    await store.ensure_record(ins)
    results = await DmpAccess(store).file_documents([vac, bio, vac], NOW)
    assert [r.duplicate for r in results] == [False, False, True]
    assert results[2].document == results[0].document
    traces = await store.traces(ins)
    assert [(t.action, t.entry_id) for t in traces] == [
        (Action.FILE, r.document.entry_id) for r in results
    ]
    told = await store.notifications(ins)
    assert [(n.kind, n.entry_id) for n in told] == [
        (NotificationKind.NEW_DOCUMENT, r.document.entry_id) for r in results[:2]
    ]


async def test_a_refused_document_files_none_of_its_submission(store: DmpStore) -> None:
    """All or nothing: the 901 of the second document leaves no first document, no trace."""
    new, parent = await _file_parent_of_replacement(store)
    intruder = dataclasses.replace(new, author_id=OTHER_RPPS, author_org="other-org")
    vac = _filing("VAC_2023.01.xml")
    before = await store.traces(new.patient_ins)
    with pytest.raises(DocumentError) as caught:
        await DmpAccess(store).file_documents(
            [vac, Filing(intruder, (CDA_DIR / REPLACEMENT).read_bytes())], NOW
        )
    assert caught.value.code is MdnCode.NOT_AUTHOR
    assert [d.entry_id for d in await store.list_documents(new.patient_ins)] == [parent.entry_id]
    assert (await store.get(parent.entry_id)).status is DocumentStatus.APPROVED
    assert await store.traces(new.patient_ins) == before
    assert await store.notifications(new.patient_ins) == []


async def test_a_replacement_may_follow_its_parent_in_one_submission(store: DmpStore) -> None:
    """DMP-DOC-1: a later filing sees the earlier ones of its submission."""
    new, content = _cda(REPLACEMENT)
    assert new.replaces_unique_id is not None
    parent = dataclasses.replace(
        new, unique_id=new.replaces_unique_id, version=1, replaces_unique_id=None
    )
    await store.ensure_record(new.patient_ins)
    first, second = await store.file_all(
        [Filing(parent, b"<ClinicalDocument>v1</ClinicalDocument>"), Filing(new, content)]
    )
    assert second.deprecated is not None
    assert second.deprecated.entry_id == first.document.entry_id
    assert (await store.get(first.document.entry_id)).status is DocumentStatus.DEPRECATED
    assert [d.entry_id for d in await store.list_documents(new.patient_ins)] == [
        second.document.entry_id
    ]


async def test_a_given_sha1_is_kept_and_the_content_still_checked(store: DmpStore) -> None:
    """``Filing.sha1`` spares a second hashing; the stored hash is the content's own."""
    filing = _filing("VSM_1.4_2022.01.xml")
    sha1 = hashlib.sha1(filing.content, usedforsecurity=False).hexdigest()
    await store.ensure_record(filing.document.patient_ins)
    [result] = await store.file_all([dataclasses.replace(filing, sha1=sha1)])
    assert result.document.sha1 == sha1
    assert await store.content(result.document.entry_id) == filing.content


async def test_concurrent_submissions_do_not_affect_one_another(store: DmpStore) -> None:
    """Submissions arriving at once (grouped in one transaction on SQLite): a refused one
    (902, 901) fails alone, the others are filed with their traces; twins are one document."""
    await store.ensure_record("279035121518989")
    await store.ensure_record("277076322082910")
    new, parent = await _file_parent_of_replacement(store)
    intruder = dataclasses.replace(new, author_id=OTHER_RPPS, author_org="other-org")
    ldl = _filing("LDL-SES_2022.01.xml")
    submissions = [
        [_filing("VAC_2023.01.xml")],
        [_filing("OBP-SCM_2024.01.xml")],
        [Filing(intruder, (CDA_DIR / REPLACEMENT).read_bytes())],  # 901
        [_filing("TLM-CR_2022.01.xml", patient_ins="180017500000000")],  # no record: 902
        [ldl],
        [ldl],
    ]

    async def audit_and_file(filings: list[Filing]) -> tuple[FilingResult, ...]:
        return await store.file_all(filings, lambda result: filing_audit(result, NOW))

    outcomes = await asyncio.gather(
        *(audit_and_file(s) for s in submissions), return_exceptions=True
    )
    refused = outcomes[2:4]
    assert [e.code for e in refused if isinstance(e, DocumentError)] == [
        MdnCode.NOT_AUTHOR,
        MdnCode.UNKNOWN_PATIENT,
    ]
    filed = [o for o in outcomes[:2] + outcomes[4:] if isinstance(o, tuple)]
    assert len(filed) == 4
    twins = sorted(o[0].duplicate for o in filed[2:])
    assert twins == [False, True]
    assert filed[2][0].document.entry_id == filed[3][0].document.entry_id
    mine = await store.list_documents("279035121518989")
    assert {d.unique_id for d in mine} == {
        parent.unique_id,
        submissions[0][0].document.unique_id,
        ldl.document.unique_id,
    }
    assert len(await store.list_documents("277076322082910")) == 1
    traced = [t.entry_id for t in await store.traces("279035121518989")]
    assert len(traced) == 3  # VAC, LDL and its twin (the duplicate is traced too)
    assert await store.traces("180017500000000") == []


@pytest.mark.parametrize("queued", [False, True])
@pytest.mark.parametrize("cancel_after", [0, 1, 2, 4, 8, 16])
async def test_a_cancelled_caller_never_strands_the_others(
    sqlite_engine: AsyncEngine, cancel_after: int, queued: bool
) -> None:
    """SQLite groups waiting submissions: whenever the first caller is cancelled (waiting, in
    its transaction, with the others in its group or not), every other one still gets its
    answer and its documents are filed."""
    async with sqlite_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    store = SqlDmpStore(sqlite_engine, TestSealer(), clock=_clock())
    names = ["VAC_2023.01.xml", "BIO-CR-BIO_2024.01_TSH_1.xml", "TLM-CR_2022.01.xml"]
    first, *others = [_filing(name) for name in ["LDL-SES_2022.01.xml", *names]]
    await store.ensure_record(first.document.patient_ins)
    busy = asyncio.create_task(store.ensure_record("277076322082910")) if queued else None
    leader = asyncio.create_task(store.file_all([first]))
    followers = []
    if busy is not None:  # all wait behind ``busy``: the leader's group holds every one
        await asyncio.sleep(0)
        followers = [asyncio.create_task(store.file_all([filing])) for filing in others]
        await busy
    for _ in range(cancel_after):
        await asyncio.sleep(0)
    if busy is None:
        followers = [asyncio.create_task(store.file_all([filing])) for filing in others]
        await asyncio.sleep(0)
    leader.cancel()
    results = await asyncio.wait_for(asyncio.gather(*followers), timeout=10)
    assert [r.document.unique_id for [r] in results] == [f.document.unique_id for f in others]
    listed = {d.unique_id for d in await store.list_documents(first.document.patient_ins)}
    assert {f.document.unique_id for f in others} <= listed
    with contextlib.suppress(asyncio.CancelledError):  # committed or not: an answer lost only
        await leader
