"""The embedded DMP document store (DMP-DOC-1): one record per patient INS, its documents.

``interfaces.DmpStore`` and ``interfaces.Sealer`` are the seams; ``sql.SqlDmpStore`` (tables in
``tables``, prefix ``dmp_``) and ``memory.MemoryDmpStore`` implement the store, sharing the
decisions of ``rules``. Values are in ``models``.
"""
