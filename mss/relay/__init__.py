"""Outbound relay: the SMTP client that delivers queued mail to other operators over mutual TLS,
and the workers that drain the outbound queue.

Imports: mss.delivery, mss.outbound and below, directory, config.
"""
