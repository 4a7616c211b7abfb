"""Patient notifications (MSS-PAT-7, DMP-AUD-1): e-mails to a patient's personal address saying
that a message arrived, or that their record was accessed or received a document, and from whom
— never any health content.

Layer: with ``mss.smtp``/``mss.imap``/``mss.relay`` (it holds a socket client, aiosmtplib); it
imports ``mss.delivery`` (the hook's types), ``directory``, ``dmp_bridge``, ``mailbox_store``
(dialect helpers) and ``config``. ``mss.notify.build.build_notifications`` assembles it for the
composition root.
"""
