"""The embedded DMP document store (DMP-DOC-1): one record per patient INS, its documents.

``interfaces.DmpStore`` and ``interfaces.Sealer`` are the seams; ``sql.SqlDmpStore`` (tables in
``tables``, prefix ``dmp_``) and ``memory.MemoryDmpStore`` implement the store, sharing the
decisions of ``rules``. Values are in ``models``.

The access part (DMP-ACL-2/3, DMP-AUD-1): patient settings, document flags, append-only traces and
the notification outbox; values and vocabulary in ``access_models``, implementations in
``access_sql`` and ``access_memory`` (mixed into both stores).
"""
