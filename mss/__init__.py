"""The operator: protocols (SMTP, later IMAP and the webmail), sessions, authentication, the
delivery service, the MSSanté policy chain, the CLI and the composition root.

Allowed imports: ``config``, ``directory``, ``mailbox_store``, ``dmp_bridge``. Inside, layers import
downward only: cli/app -> smtp -> auth -> delivery -> policy -> wire.
"""
