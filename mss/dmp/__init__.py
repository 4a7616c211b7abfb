"""The operator's side of the DMP bridge (issue 5, items 5-6): filing after delivery, MDN, patient
filing, CLI reports.

- ``bridge``: ``build_bridge`` assembles the pieces for the composition root (``DmpBridge``).
- ``worker``: ``FilingHook`` (the post-delivery hook: a durable job row before the ``250``) and
  ``FilingWorker`` (files after the reply; at start-up, what a crash left).
- ``jobs``, ``tables``: the ``dmp_filing_jobs`` queue on SQL (migration 0007).
- ``filing``: ``DocumentFiler``, one message's XDM documents checked and filed (DMP-MDN-1,
  MSS-MSG-4, DMP-DOC-1); ``mime`` and ``attachments`` find the archives.
- ``mdn``: the integration result back to the sender (DMP-MDN-1, RFC 8098; rendering in
  ``mss.wire.mdn``).
- ``personal``: the patient's "Espace personnel" (class 90).
- ``report``: what ``mss xdm`` and ``mss dmp`` print.

Imports: mss.wire, dmp_bridge, mailbox_store, directory, config (below mss.delivery: the
delivery service reaches the hook and the MDN transport through Protocols).
"""
