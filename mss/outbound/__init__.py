"""The durable outbound queue: messages for other operators, stored before the ``250``.

Imports: mss.policy, mss.wire, directory, config.
"""
