"""What was delivered: accounts, folders, messages, flags, UIDs/UIDVALIDITY/MODSEQ, encrypted blobs
and change notifications.

Job: store mail durably and tell listeners (IMAP IDLE) what changed. Seams are the Protocols of
``mailbox_store.interfaces``; ``mailbox_store.sql`` and ``mailbox_store.memory`` implement them.
Allowed imports: ``config`` only.

Modules: ``blobs`` (encrypted content-addressed bodies), ``notify`` (change hub), ``tables`` (SQL
schema), ``logic`` (rules shared by both stores), ``sql`` and ``memory`` (the stores),
``group_commit``, ``batch_writers`` and ``filing`` (the write path of ``deliver``), ``dialect``
(SQLite/PostgreSQL differences).
"""
