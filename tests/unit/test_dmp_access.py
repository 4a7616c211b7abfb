"""DMP-ACL-1..3: the one pure function ``decide`` — every rule, every refusal and its reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dmp_bridge.access import (
    AccessMode,
    AccessRequest,
    Action,
    Actor,
    Decision,
    Facts,
    LegalRepresentative,
    Patient,
    Professional,
    Reason,
    Regulator,
    decide,
    default_matrix,
)
from dmp_bridge.access.rules import add_months, notice_due, visible_to_patient
from dmp_bridge.store.access_models import DocumentFlags, PatientSettings
from dmp_bridge.store.models import DocumentStatus, StoredDocument

INS = "279035121518989"
OTHER_INS = "223042545611404"
FILED = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
NOW = FILED + timedelta(hours=1)

AUTHOR = Professional("10000000001", "10", "SM54", organisation="ORG-A")
TREATING = Professional("10000000002", "10", "SM54")
DOCTOR = Professional("10000000003", "10", "SM26")
NURSE = Professional("10000000004", "60")
PHARMACIST = Professional("10000000005", "21")
COLLEAGUE = Professional("10000000006", "10", organisation="ORG-A")
DENTIST = Professional("10000000007", "40")
ORAL_SURGEON = Professional("10000000008", "40", "SCD02")
UNLISTED = Professional("10000000009", "99")  # a profession the matrix does not know
REGULATOR = Regulator("10000000010", "10", "SM54")
PATIENT = Patient(INS)
REPRESENTATIVE = LegalRepresentative("REP-1")
SETTINGS = PatientSettings(
    INS, medecin_traitant=TREATING.rpps, legal_representatives=frozenset({"REP-1"})
)


def document(
    *codes: str, type_code: str = "11488-4", class_code: str | None = "10"
) -> StoredDocument:
    return StoredDocument(
        entry_id=uuid4(),
        unique_id="1.2.3.4",
        set_id="1.2.3.5",
        version=1,
        status=DocumentStatus.APPROVED,
        patient_ins=INS,
        type_code=type_code,
        class_code=class_code,
        rubric="Comptes rendus",
        confidentiality=codes or ("N",),
        author_id=AUTHOR.rpps,
        author_org=AUTHOR.organisation,
        creation_time=None,
        submission_time=FILED,
        sha1="0" * 40,
        size=1,
        mime_type="text/xml",
        title="t",
        source_message_id=None,
        replaces=None,
        replaces_unique_id=None,
        content_key="0" * 64,
    )


def ask(
    actor: Actor,
    doc: StoredDocument | None = None,
    *,
    action: Action = Action.READ,
    mode: AccessMode = AccessMode.NORMAL,
    justification: str | None = None,
    settings: PatientSettings = SETTINGS,
    flags: DocumentFlags | None = None,
    now: datetime = NOW,
) -> Decision:
    request = AccessRequest(actor, action, INS, doc, mode, justification)
    return decide(request, Facts(settings, now, flags), default_matrix())


def refused(reason: Reason) -> Decision:
    return Decision(False, reason)


GRANTED = Decision(True, Reason.GRANTED)


# --- DMP-ACL-1: the matrice d'habilitation -----------------------------------------------------


def test_dmp_acl_1_a_doctor_reads_a_report() -> None:
    assert ask(DOCTOR, document()) == GRANTED


def test_dmp_acl_1_a_nurse_may_not_read_a_report() -> None:
    assert ask(NURSE, document()) == refused(Reason.MATRIX)


def test_dmp_acl_1_a_nurse_reads_biology_by_type_row() -> None:
    assert ask(NURSE, document(type_code="11502-2", class_code="10")) == GRANTED


def test_dmp_acl_1_a_pharmacist_reads_a_prescription_not_imaging() -> None:
    assert ask(PHARMACIST, document(type_code="57833-6", class_code="42")) == GRANTED
    imaging = document(type_code="18748-4", class_code="31")
    assert ask(PHARMACIST, imaging) == refused(Reason.MATRIX)


def test_dmp_acl_1_speciality_row_wins_over_profession_row() -> None:
    assert ask(DENTIST, document()) == refused(Reason.MATRIX)
    assert ask(ORAL_SURGEON, document()) == GRANTED


def test_dmp_acl_1_unlisted_profession_is_refused_by_default() -> None:
    assert ask(UNLISTED, document(type_code="60591-5", class_code="11")) == refused(Reason.MATRIX)


def test_dmp_acl_1_unknown_type_without_class_is_refused_by_default_to_non_doctors() -> None:
    assert ask(NURSE, document(type_code="UNKNOWN", class_code=None)) == refused(Reason.MATRIX)
    assert ask(DOCTOR, document(type_code="UNKNOWN", class_code=None)) == GRANTED


def test_dmp_acl_1_author_and_medecin_traitant_bypass_the_matrix() -> None:
    """The documented default of the matrix file: the author and the médecin traitant read."""
    author = dataclasses.replace(UNLISTED, rpps=AUTHOR.rpps)
    treating = dataclasses.replace(UNLISTED, rpps=TREATING.rpps)
    assert ask(author, document()) == GRANTED
    assert ask(treating, document()) == GRANTED


# --- DMP-ACL-2: confidentiality codes -----------------------------------------------------------


def test_dmp_acl_2_masque_ps_hides_from_other_professionals() -> None:
    assert ask(DOCTOR, document("N", "MASQUE_PS")) == refused(Reason.MASQUE_PS)


def test_dmp_acl_2_masque_ps_is_visible_to_author_and_medecin_traitant() -> None:
    assert ask(AUTHOR, document("N", "MASQUE_PS")) == GRANTED
    assert ask(TREATING, document("N", "MASQUE_PS")) == GRANTED


def test_dmp_acl_2_masque_ps_does_not_hide_from_the_patient() -> None:
    assert ask(PATIENT, document("N", "MASQUE_PS")) == GRANTED


def test_dmp_acl_2_restricted_r_only_author_and_medecin_traitant() -> None:
    assert ask(DOCTOR, document("R")) == refused(Reason.CONFIDENTIALITY_R)
    assert ask(TREATING, document("R")) == GRANTED
    assert ask(AUTHOR, document("R")) == GRANTED


def test_dmp_acl_2_very_restricted_v_only_the_author() -> None:
    assert ask(TREATING, document("V")) == refused(Reason.CONFIDENTIALITY_V)
    assert ask(DOCTOR, document("V")) == refused(Reason.CONFIDENTIALITY_V)
    assert ask(AUTHOR, document("V")) == GRANTED


def test_dmp_acl_2_normal_n_follows_the_matrix_only() -> None:
    assert ask(DOCTOR, document("N")) == GRANTED


def test_dmp_acl_2_invisible_patient_hidden_from_the_patient_at_first() -> None:
    doc = document("N", "INVISIBLE_PATIENT")
    assert ask(PATIENT, doc) == refused(Reason.INVISIBLE_PATIENT)
    assert ask(DOCTOR, doc) == GRANTED  # professionals are not concerned


def test_dmp_acl_2_invisible_patient_still_hidden_after_two_weeks_but_notice_due() -> None:
    doc = document("N", "INVISIBLE_PATIENT")
    two_weeks = FILED + timedelta(weeks=2)
    assert notice_due(doc) == two_weeks
    assert ask(PATIENT, doc, now=two_weeks) == refused(Reason.INVISIBLE_PATIENT)


def test_dmp_acl_2_invisible_patient_visible_after_one_calendar_month() -> None:
    doc = document("N", "INVISIBLE_PATIENT")  # filed on 31 January: a month ends 28 February
    end_of_month = datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert ask(PATIENT, doc, now=end_of_month - timedelta(seconds=1)) == refused(
        Reason.INVISIBLE_PATIENT
    )
    assert ask(PATIENT, doc, now=end_of_month) == GRANTED


def test_dmp_acl_2_invisible_patient_visible_after_the_announcement() -> None:
    doc = document("N", "INVISIBLE_PATIENT")
    announced = DocumentFlags(doc.entry_id, announced_at=NOW)
    assert ask(PATIENT, doc, flags=announced) == GRANTED
    assert not visible_to_patient(doc, announced, NOW - timedelta(minutes=1))


def test_dmp_acl_2_invisible_patient_also_hidden_from_legal_representatives() -> None:
    doc = document("N", "INVISIBLE_PATIENT")
    assert ask(REPRESENTATIVE, doc) == refused(Reason.INVISIBLE_PATIENT)


def test_a_visible_document_has_its_notice_due_at_once() -> None:
    assert notice_due(document("N")) == FILED


@pytest.mark.parametrize("code", ["INVISIBLE_REPRESENTANTS_LEGAUX", "INVISIBLE_REP_LEGAUX"])
def test_dmp_acl_2_invisible_to_legal_representatives_both_spellings(code: str) -> None:
    doc = document("N", code)
    assert ask(REPRESENTATIVE, doc) == refused(Reason.INVISIBLE_REPRESENTANTS_LEGAUX)
    assert ask(PATIENT, doc) == GRANTED
    assert ask(DOCTOR, doc) == GRANTED


def test_add_months_clamps_the_day() -> None:
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 1) == datetime(2027, 1, 15, tzinfo=UTC)


# --- DMP-ACL-3: the patient's choices ----------------------------------------------------------


def test_dmp_acl_3_document_masked_by_the_patient() -> None:
    doc = document()
    masked = DocumentFlags(doc.entry_id, masked_by_patient=True)
    assert ask(DOCTOR, doc, flags=masked) == refused(Reason.MASKED_BY_PATIENT)
    assert ask(AUTHOR, doc, flags=masked) == GRANTED
    assert ask(TREATING, doc, flags=masked) == GRANTED
    assert ask(PATIENT, doc, flags=masked) == GRANTED


def test_dmp_acl_3_blocked_professional_has_no_access_at_all() -> None:
    blocked = dataclasses.replace(SETTINGS, blocked=frozenset({DOCTOR.rpps}))
    assert ask(DOCTOR, document(), settings=blocked) == refused(Reason.BLOCKED)
    assert ask(DOCTOR, None, action=Action.LIST, settings=blocked) == refused(Reason.BLOCKED)


def test_dmp_acl_3_blocked_professional_refused_even_as_author() -> None:
    """(chosen) "no access at all": the author's own document is refused too."""
    blocked = dataclasses.replace(SETTINGS, blocked=frozenset({AUTHOR.rpps}))
    assert ask(AUTHOR, document(), settings=blocked) == refused(Reason.BLOCKED)
    assert ask(AUTHOR, document(), action=Action.DELETE, settings=blocked) == refused(
        Reason.BLOCKED
    )


def test_dmp_acl_3_blocked_professional_refused_even_in_emergency() -> None:
    blocked = dataclasses.replace(SETTINGS, blocked=frozenset({DOCTOR.rpps}))
    decision = ask(
        DOCTOR,
        document(),
        mode=AccessMode.BRIS_DE_GLACE,
        justification="coma",
        settings=blocked,
    )
    assert decision == refused(Reason.BLOCKED)


def test_dmp_acl_3_bris_de_glace_with_justification_is_granted() -> None:
    decision = ask(DOCTOR, document(), mode=AccessMode.BRIS_DE_GLACE, justification="coma")
    assert decision == GRANTED


@pytest.mark.parametrize("justification", [None, "", "   "])
def test_dmp_acl_3_bris_de_glace_without_justification_is_refused(
    justification: str | None,
) -> None:
    decision = ask(DOCTOR, document(), mode=AccessMode.BRIS_DE_GLACE, justification=justification)
    assert decision == refused(Reason.JUSTIFICATION_REQUIRED)


def test_dmp_acl_3_bris_de_glace_refused_if_the_patient_opposed() -> None:
    opposed = dataclasses.replace(SETTINGS, opposes_emergency=True)
    decision = ask(
        DOCTOR, document(), mode=AccessMode.BRIS_DE_GLACE, justification="coma", settings=opposed
    )
    assert decision == refused(Reason.EMERGENCY_OPPOSED)


def test_dmp_acl_3_centre_15_for_the_regulator_only() -> None:
    assert ask(REGULATOR, document(), mode=AccessMode.CENTRE_15) == GRANTED
    assert ask(DOCTOR, document(), mode=AccessMode.CENTRE_15) == refused(Reason.MODE_NOT_ALLOWED)


def test_dmp_acl_3_centre_15_refused_if_the_patient_opposed() -> None:
    opposed = dataclasses.replace(SETTINGS, opposes_emergency=True)
    decision = ask(REGULATOR, None, action=Action.LIST, mode=AccessMode.CENTRE_15, settings=opposed)
    assert decision == refused(Reason.EMERGENCY_OPPOSED)


def test_dmp_acl_3_opposition_does_not_touch_normal_access() -> None:
    opposed = dataclasses.replace(SETTINGS, opposes_emergency=True)
    assert ask(DOCTOR, document(), settings=opposed) == GRANTED


def test_dmp_acl_3_emergency_does_not_lift_masking_nor_the_matrix() -> None:
    doc = document("N", "MASQUE_PS")
    mode = AccessMode.BRIS_DE_GLACE
    assert ask(DOCTOR, doc, mode=mode, justification="coma") == refused(Reason.MASQUE_PS)
    assert ask(NURSE, document(), mode=mode, justification="coma") == refused(Reason.MATRIX)


def test_dmp_acl_3_emergency_modes_only_read_and_list() -> None:
    decision = ask(
        AUTHOR, document(), action=Action.DELETE, mode=AccessMode.BRIS_DE_GLACE, justification="x"
    )
    assert decision == refused(Reason.MODE_NOT_ALLOWED)


def test_patients_have_no_emergency_mode() -> None:
    decision = ask(PATIENT, document(), mode=AccessMode.BRIS_DE_GLACE, justification="x")
    assert decision == refused(Reason.MODE_NOT_ALLOWED)


# --- who may do what ----------------------------------------------------------------------------


def test_dmp_doc_1_replace_and_delete_by_author_or_organisation_only() -> None:
    for action in (Action.REPLACE, Action.DELETE):
        assert ask(AUTHOR, document(), action=action) == GRANTED
        assert ask(COLLEAGUE, document(), action=action) == GRANTED  # same organisation
        assert ask(TREATING, document(), action=action) == refused(Reason.NOT_AUTHOR)


def test_announcement_by_author_or_medecin_traitant() -> None:
    assert ask(AUTHOR, document(), action=Action.ANNOUNCE) == GRANTED
    assert ask(TREATING, document(), action=Action.ANNOUNCE) == GRANTED
    assert ask(DOCTOR, document(), action=Action.ANNOUNCE) == refused(Reason.NOT_AUTHOR)


def test_professionals_do_not_mask_manage_nor_read_traces() -> None:
    for action in (Action.MASK, Action.UNMASK, Action.MANAGE, Action.READ_TRACES):
        assert ask(TREATING, None, action=action) == refused(Reason.ACTION_NOT_ALLOWED)


def test_patient_masks_manages_and_reads_traces_but_does_not_delete() -> None:
    for action in (Action.MASK, Action.UNMASK, Action.READ, Action.LIST):
        assert ask(PATIENT, document(), action=action) == GRANTED
    for action in (Action.MANAGE, Action.READ_TRACES):
        assert ask(PATIENT, None, action=action) == GRANTED
    assert ask(PATIENT, document(), action=Action.DELETE) == refused(Reason.ACTION_NOT_ALLOWED)


def test_a_patient_cannot_act_on_another_record() -> None:
    assert ask(Patient(OTHER_INS), None, action=Action.LIST) == refused(Reason.OTHER_PATIENT)


def test_a_document_of_another_patient_is_refused() -> None:
    other = dataclasses.replace(document(), patient_ins=OTHER_INS)
    assert ask(DOCTOR, other) == refused(Reason.OTHER_PATIENT)


def test_an_unlisted_legal_representative_is_refused() -> None:
    stranger = LegalRepresentative("REP-2")
    assert ask(stranger, None, action=Action.LIST) == refused(Reason.NOT_REPRESENTATIVE)
    assert ask(REPRESENTATIVE, None, action=Action.LIST) == GRANTED


def test_a_deleted_document_is_available_to_no_one() -> None:
    deleted = dataclasses.replace(document(), status=DocumentStatus.DELETED)
    for actor in (AUTHOR, TREATING, PATIENT):
        assert ask(actor, deleted) == refused(Reason.NOT_AVAILABLE)


def test_a_replaced_version_may_still_be_read() -> None:
    deprecated = dataclasses.replace(document(), status=DocumentStatus.DEPRECATED)
    assert ask(DOCTOR, deprecated) == GRANTED


# --- properties: decide is total and its strongest rules always hold -----------------------------

ACTORS = st.sampled_from(
    [
        *(AUTHOR, TREATING, DOCTOR, NURSE, PHARMACIST, DENTIST, UNLISTED, REGULATOR, PATIENT),
        *(REPRESENTATIVE, Patient(OTHER_INS), LegalRepresentative("REP-2")),
    ]
)
CODES = st.lists(
    st.sampled_from(["N", "R", "V", "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX", "X"]),
    max_size=4,
)


@given(
    actor=ACTORS,
    action=st.sampled_from(list(Action)),
    mode=st.sampled_from(list(AccessMode)),
    codes=CODES,
    status=st.sampled_from(list(DocumentStatus)),
    on_document=st.booleans(),
    blocked=st.booleans(),
    opposed=st.booleans(),
    masked=st.booleans(),
    justification=st.sampled_from([None, "", "coma"]),
    days=st.integers(min_value=0, max_value=60),
)
def test_decide_is_total_and_keeps_its_strongest_rules(
    actor: Actor,
    action: Action,
    mode: AccessMode,
    codes: list[str],
    status: DocumentStatus,
    on_document: bool,
    blocked: bool,
    opposed: bool,
    masked: bool,
    justification: str | None,
    days: int,
) -> None:
    doc = dataclasses.replace(document(*codes), status=status) if on_document else None
    settings = dataclasses.replace(
        SETTINGS,
        blocked=frozenset({actor.actor_id}) if blocked else frozenset(),
        opposes_emergency=opposed,
    )
    flags = DocumentFlags(doc.entry_id, masked_by_patient=masked) if doc else None
    decision = ask(
        actor,
        doc,
        action=action,
        mode=mode,
        justification=justification,
        settings=settings,
        flags=flags,
        now=NOW + timedelta(days=days),
    )
    assert decision.allowed == (decision.reason is Reason.GRANTED)
    if decision.allowed:
        assert doc is None or doc.status is not DocumentStatus.DELETED
        assert not (isinstance(actor, Professional) and blocked)  # DMP-ACL-3
        if mode is not AccessMode.NORMAL:
            assert isinstance(actor, Professional)
            assert not opposed  # DMP-ACL-3
            assert action in (Action.READ, Action.LIST)
        if doc is not None and "V" in codes and isinstance(actor, Professional):
            assert actor.rpps == AUTHOR.rpps
