"""Who acts on a DMP record (DMP-ACL-1..3): professionals, regulators, patients, representatives.

Whether a professional is the patient's médecin traitant is a fact of the record
(``PatientSettings.medecin_traitant``), not of the actor: it is checked against the RPPS.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmp_bridge.store.access_models import ActorKind


@dataclass(frozen=True, slots=True)
class Professional:
    """A health professional (PS): RPPS, profession code (G15, e.g. ``10`` médecin) and
    speciality (e.g. ``SM54``), organisation (the author organisation of DMP-DOC-1)."""

    rpps: str
    profession: str
    speciality: str | None = None
    organisation: str | None = None

    @property
    def kind(self) -> ActorKind:
        return ActorKind.PROFESSIONAL

    @property
    def actor_id(self) -> str:
        return self.rpps


@dataclass(frozen=True, slots=True)
class Regulator(Professional):
    """DMP-ACL-3: the médecin régulateur of a centre 15 (SAMU), the only one for ``centre_15``."""

    @property
    def kind(self) -> ActorKind:
        return ActorKind.REGULATOR


@dataclass(frozen=True, slots=True)
class Patient:
    """The patient, holder of the record ``ins``."""

    ins: str

    @property
    def kind(self) -> ActorKind:
        return ActorKind.PATIENT

    @property
    def actor_id(self) -> str:
        return self.ins


@dataclass(frozen=True, slots=True)
class LegalRepresentative:
    """A legal representative (parent, guardian): acts for the patient if listed in the
    patient's settings."""

    representative_id: str

    @property
    def kind(self) -> ActorKind:
        return ActorKind.LEGAL_REPRESENTATIVE

    @property
    def actor_id(self) -> str:
        return self.representative_id


Actor = Professional | Patient | LegalRepresentative  # a Regulator is a Professional
