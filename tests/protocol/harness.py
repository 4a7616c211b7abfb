"""A real operator (the demo) running in a thread with its own event loop, for protocol tests
that use blocking clients (smtplib, swaks) from the test thread."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from config import Settings, load_settings
from mss import demo
from mss.app import Operator, serving

T = TypeVar("T")


class RunningOperator:
    def __init__(self, folder: Path, **smtp_overrides: Any) -> None:
        self.folder = folder
        demo.prepare(folder, port_base=0)
        settings = load_settings(folder / demo.CONFIG)
        smtp = settings.smtp.model_copy(update={"auth_failure_delay": 0.0, **smtp_overrides})
        directory = settings.directory.model_copy(
            update={"argon2_time_cost": 1, "argon2_memory_kib": 8}
        )
        # The background SEARCH indexer started, its passes an hour apart: tests that count
        # header reads run it themselves (search_warmer).
        imap = settings.imap.model_copy(
            update={"auth_failure_delay": 0.0, "search_index_warm_interval": 3600.0}
        )
        self.settings: Settings = settings.model_copy(
            update={"smtp": smtp, "directory": directory, "imap": imap}
        )
        self._loop = uvloop.new_event_loop()  # the loop `mss serve` runs on
        self._ready: Future[Operator] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RunningOperator:
        self._thread.start()
        self.operator = self._ready.result(timeout=60)
        self.manifest: dict[str, Any] = json.loads((self.folder / demo.MANIFEST).read_text())
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the operator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def port(self, listener: str) -> int:
        return int(self.manifest["listeners"][listener]["port"])

    def account(self, kind: str, **match: Any) -> dict[str, Any]:
        for account in self.manifest["accounts"]:
            if account["kind"] == kind and all(account.get(k) == v for k, v in match.items()):
                return dict(account)
        raise LookupError(f"no demo account {kind} {match}")

    def client_context(self, operator: str | None = None) -> ssl.SSLContext:
        """A TLS client context trusting the demo CA, presenting ``operator``'s certificate
        (``peer_operator`` or ``untrusted_operator``) when given."""
        context = ssl.create_default_context(cafile=str(self.folder / self.manifest["ca_cert"]))
        context.check_hostname = False
        if operator is not None:
            entry = self.manifest[operator]
            context.load_cert_chain(self.folder / entry["cert"], self.folder / entry["key"])
        return context

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # surface start-up failures to the test thread
            if not self._ready.done():
                self._ready.set_exception(error)
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serving(self.settings) as operator:
            await demo.populate(operator, self.folder)
            demo.write_manifest(operator, self.folder)
            self._ready.set_result(operator)
            await self._stop.wait()
