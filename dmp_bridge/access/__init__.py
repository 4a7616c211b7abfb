"""Access rules, traces and patient notifications of the embedded DMP (DMP-ACL-1..3, DMP-AUD-1).

Stable API (used by the filing job, the CLI and the webmail):

- ``DmpAccess(store, matrix=None)`` (``service``): every access goes through it, is decided,
  traced (DMP-AUD-1) and notified. All take ``now`` (aware datetime): no clock inside.

  - ``await check(AccessRequest(actor, action, ins, document, mode, justification), now)
    -> Decision``
  - ``await read_document(actor, entry_id, now, mode=, justification=) -> DocumentAccess``
    (``.decision``, ``.document`` when allowed)
  - ``await list_documents(actor, ins, now, mode=, justification=) -> RecordListing``
    (``.decision``, ``.documents`` the actor may read)
  - ``await file_documents(filings, now, actor=None) -> tuple[FilingResult, ...]``: files
    documents with ``DmpStore.file_all``, each with its trace and the patient's "new document"
    notification (none for a duplicate or a patient's own filing), all in one transaction.
  - ``await record_new_document(filing_result, now, actor=None) -> Trace``: the same trace and
    notification, in a transaction of its own, after ``DmpStore.file``.
  - ``await traces_for(actor, ins, now) -> (Decision, list[Trace])``; operators read
    ``DmpStore.traces(ins)`` directly (``mss dmp traces INS``).
  - the patient's choices: ``set_masked``, ``announce``, ``set_blocked``,
    ``set_emergency_opposition``, ``set_medecin_traitant``, ``set_legal_representative``.

- Actors (``actors``): ``Professional(rpps, profession, speciality, organisation)``,
  ``Regulator`` (centre 15), ``Patient(ins)``, ``LegalRepresentative(representative_id)``.
- ``rules.decide(request, facts, matrix) -> Decision(allowed, reason)``: the one pure function;
  ``Reason``, ``Action``, ``AccessMode`` are in ``dmp_bridge.store.access_models`` (re-exported).
- ``matrix``: the matrice d'habilitation from ``data/matrice-habilitation.csv``.
- ``notifications``: the outbox rows an access or a filing implies.
"""

from dmp_bridge.access.actors import Actor, LegalRepresentative, Patient, Professional, Regulator
from dmp_bridge.access.matrix import Matrix, default_matrix, load_matrix
from dmp_bridge.access.rules import AccessRequest, Decision, Facts, decide
from dmp_bridge.access.service import DmpAccess, DocumentAccess, RecordListing
from dmp_bridge.store.access_models import (
    AccessMode,
    Action,
    ActorKind,
    NotificationKind,
    Reason,
    Trace,
)

__all__ = [
    "AccessMode",
    "AccessRequest",
    "Action",
    "Actor",
    "ActorKind",
    "Decision",
    "DmpAccess",
    "DocumentAccess",
    "Facts",
    "LegalRepresentative",
    "Matrix",
    "NotificationKind",
    "Patient",
    "Professional",
    "Reason",
    "RecordListing",
    "Regulator",
    "Trace",
    "decide",
    "default_matrix",
    "load_matrix",
]
