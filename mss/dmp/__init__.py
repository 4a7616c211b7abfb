"""The operator's side of the DMP bridge: filing jobs after delivery and the MDN they answer with.

Imports: mss.policy, mss.wire, dmp_bridge, mailbox_store, directory, config.
"""
