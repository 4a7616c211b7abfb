"""Who exists: hosted domains, mailboxes (BAL), credentials, delegations, patients, the whitelist
and patient conversation grants.

Job: answer "who is this address, what may it do" for every entry point. Seams are the Protocols of
``directory.interfaces``; ``directory.sql`` and ``directory.memory`` implement them.
Allowed imports: ``config`` only.
"""
