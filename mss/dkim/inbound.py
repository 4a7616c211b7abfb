"""What the MX does with DKIM on every inbound message (RFC 6376 §6, RFC 8601 §5):

1. remove the ``Authentication-Results`` fields that claim our authserv-id (a sender must not
   forge our verdict), on every channel;
2. verify the DKIM signatures (MX only: submission mail is our own users');
3. give our ``Authentication-Results`` field, to be added on top of the stored message.

MSS-MSG-1: apart from the trace fields (``Return-Path``, ``Received``) and this one field, and the
removal in 1., the message is stored byte for byte as received.

Measured (``bench/dkim_sign.py``, this machine, shared): only the header section is read on the
event loop, so 1. and the unsigned case of 2. take well under a millisecond even at 25 MB; the
body hash and the RSA check run in a worker thread, in pieces that let the loop run (25 MB signed
message: ~0.3-1 s to verify, the loop never stalled more than ~20 ms; dkimpy's own verifier held
it 5.8 s). 1. runs in a thread too for a message over :data:`THREAD_ABOVE` bytes that does carry
a forged field (copying the message costs ~50 ms at 25 MB).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from mss.dkim.results import (
    DkimResult,
    DkimStatus,
    authentication_results,
    strip_forged_results,
)
from mss.dkim.verify import TxtLookup, verify

log = logging.getLogger(__name__)

THREAD_ABOVE = 1024 * 1024


@dataclass(frozen=True)
class Prepared:
    """The message to store (forged fields removed) and the field to add on top of it."""

    message: bytes
    results_field: bytes = b""


class InboundDkim:
    """Built once per operator: our authserv-id, whether to verify, and the key lookup."""

    def __init__(self, authserv_id: str, *, lookup: TxtLookup, verify_inbound: bool = True):
        authentication_results(authserv_id, [])  # refuses an unusable authserv-id now
        self.authserv_id = authserv_id
        self._lookup = lookup
        self._verify = verify_inbound

    async def prepare(self, message: bytes, *, verify_dkim: bool) -> Prepared:
        """Forged results removed; our ``Authentication-Results`` when ``verify_dkim`` and
        verification is on (the signatures are checked on the message as it arrived)."""
        stripped = await self._strip(message)
        if stripped is not message:
            log.info("forged authentication-results removed authserv_id=%s", self.authserv_id)
        if not (verify_dkim and self._verify):
            return Prepared(stripped)
        try:
            results = await verify(message, lookup=self._lookup)
        except Exception:  # a verifier bug must not refuse nor lose mail: say we could not tell
            log.exception("dkim verification failed unexpectedly")
            results = [DkimResult(DkimStatus.TEMPERROR, None, None, "verifier error")]
        return Prepared(stripped, authentication_results(self.authserv_id, results))

    async def _strip(self, message: bytes) -> bytes:
        if len(message) > THREAD_ABOVE:
            return await asyncio.to_thread(strip_forged_results, message, self.authserv_id)
        return strip_forged_results(message, self.authserv_id)
