"""The embedded DMP document store (DMP-DOC-1): one record per patient INS, its documents.

``interfaces.DmpStore`` and ``interfaces.Sealer`` are the seams; ``sql.SqlDmpStore`` (tables in
``tables``, prefix ``dmp_``) and ``memory.MemoryDmpStore`` implement the store, sharing the
decisions of ``rules``. Values are in ``models``. ``file_all`` files a submission's documents with
their traces in one transaction; the SQL store decides a batch in memory first (``batch``) and
writes it in a few statements, its write transactions taking turns on SQLite (``sql_write``),
where the submissions waiting meanwhile share the next transaction (one commit for all).

The access part (DMP-ACL-2/3, DMP-AUD-1): patient settings, document flags, append-only traces and
the notification outbox; values and vocabulary in ``access_models``, implementations in
``access_sql`` and ``access_memory`` (mixed into both stores).
"""
