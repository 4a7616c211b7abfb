"""Health documents: IHE XDM and CDA R2 parsing, classification, the embedded DMP store.

Job: turn attachments sent to patients into documents of their record (issue: DMP bridge).
Allowed imports: ``config`` only.

Pure parts (no I/O, bytes in, frozen dataclasses out; every refusal a ``DocumentError``):

- ``errors``: ``DocumentError`` with its DMP-MDN-1 ``code``; ``HostileInput`` (SEC-IN-1/2).
- ``xml``: the one hardened lxml parser (SEC-IN-1), used for CDA and METADATA.XML alike.
- ``zipsafe``: in-memory zip reading with every SEC-IN-2 cap and refusal.
- ``cda``: ``parse_cda(bytes) -> CdaHeader`` (DMP-CDA-1).
- ``classification``: type → class → rubric from the versioned tables in ``data/`` (DMP-CLASS-1/2).
- ``ebrim``, ``xdm``, ``xdm_build``: ``read_xdm(bytes) -> XdmArchive`` and ``build_xdm([cda…]) ->
  bytes`` (DMP-XDM-1/2).
- ``patient_match``: metadata INS, CDA INS and recipient agree (DMP-MDN-1, MSS-MSG-4).

Access (``access``): ``DmpAccess`` decides (``access.rules.decide``, pure, DMP-ACL-1..3), traces
(DMP-AUD-1) and notifies every access to a record; the matrice d'habilitation is
``data/matrice-habilitation.csv``.
"""
