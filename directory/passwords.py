"""Password hashes: argon2id, computed off the event loop.

Verifying for an unknown login still spends one verification against a dummy hash, so the time of
an answer does not tell whether the login exists. Passwords never reach a log.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from config.settings import DirectorySettings


def _hasher(settings: DirectorySettings) -> PasswordHasher:
    memory_kib = settings.argon2_memory_kib
    # argon2 needs at least 8 KiB per lane: tiny test settings get a single lane.
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=memory_kib,
        parallelism=max(1, min(4, memory_kib // 8)),
    )


class Passwords:
    """Hash and verify passwords with the parameters of the settings."""

    def __init__(self, settings: DirectorySettings) -> None:
        self._hasher = _hasher(settings)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored_hash``; never for ``None`` (unknown login)."""
        if stored_hash is None:
            await asyncio.to_thread(self._verify, await self._dummy(), password)
            return False
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        return self._dummy_hash
