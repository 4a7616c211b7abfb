"""Password authentication of professionals, with delegation (MSS-BAL-2) and a failure delay."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from directory.interfaces import Directory
from directory.models import BalState


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated professional, possibly acting for an organisational BAL."""

    user: str
    acting_for: str | None = None

    @property
    def identity(self) -> str:
        return self.acting_for or self.user


class Authenticator:
    def __init__(self, directory: Directory, *, failure_delay: float = 1.0) -> None:
        self._directory = directory
        self._failure_delay = failure_delay

    async def password(self, login: str, password: str, authzid: str = "") -> Principal | None:
        """Check a login and password; None (after the failure delay) when refused."""
        principal = await self._check(login.strip().lower(), password, authzid.strip().lower())
        if principal is None and self._failure_delay:
            await asyncio.sleep(self._failure_delay)
        return principal

    async def _check(self, login: str, password: str, authzid: str) -> Principal | None:
        if not await self._directory.verify_password(login, password):
            return None
        mailbox = await self._directory.get_mailbox(login)
        if mailbox is None or mailbox.state is not BalState.ACTIVE:
            return None  # patients use the webmail; suspended/closed BALs cannot log in (MSS-BAL-4)
        if authzid and authzid != login:
            if not await self._directory.may_act_for(login, authzid):  # MSS-BAL-2
                return None
            return Principal(login, authzid)
        return Principal(login)
