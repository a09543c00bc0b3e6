"""While a logged-in user's session holds its seat: is the account still allowed, and how much of its day is left?

Every ``RTCSTREAM["ACCOUNT_CHECK_INTERVAL"]`` seconds (and once as the seat is
taken) one query, off the event loop, reads the user again:

- an account disabled (``is_active`` False) or deleted, or one that may no
  longer open the endpoint (out of its allowed groups), ends the session with
  ``access_revoked``: within one interval, as Django's own sessions stop
  authenticating such a user at their next request;
- with a daily-minutes quota, the page gets a ``quota`` event (``seconds_left``),
  and the session ends with ``quota_exhausted`` when none are left. The next
  check comes sooner as the end nears (when the user's live sessions, each
  spending the same minutes, would use them up), so a session overruns its
  day by at most a moment, or by one interval for each session the user
  opened elsewhere since the last check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from rtcstream import conf
from rtcstream.admission.quotas import Standing
from rtcstream.endpoints.resolution import Endpoint, is_allowed
from rtcstream.reasons import CloseReason
from rtcstream.runtime import Runtime
from rtcstream.signalling import protocol

logger = logging.getLogger("rtcstream.session")

# A session whose day has less than this left ends now rather than after one more tiny wait.
END_TOLERANCE = 0.25

ACCESS_REVOKED = "This account may no longer use this stream."
QUOTA_EXHAUSTED = "Your streaming minutes for today are used up."


@dataclass(frozen=True)
class AccountCheck:
    allowed: bool
    standing: Standing | None


@dataclass
class AccountWatch:
    """Checks one session's account while it holds its seat; ``stop`` when it gives the seat back.

    ``tell`` sends the page a message (the ``quota`` event), ``close`` ends the session.
    """

    runtime: Runtime
    endpoint: Endpoint
    session_id: str
    user_id: Any
    tell: Callable[[dict[str, Any]], None]
    close: Callable[[CloseReason, str], None]
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"rtcstream:{self.session_id}:account-watch"
        )

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def check_sync(self) -> AccountCheck:
        """Read the user again (from a thread): may they still use the endpoint, and how much of their quota is left?"""
        users = get_user_model()._default_manager
        user = users.filter(pk=self.user_id).first()
        allowed = user is not None and user.is_active and is_allowed(self.endpoint, user)
        return AccountCheck(allowed, self.runtime.admission.quota_standing_sync(self.user_id) if allowed else None)

    async def _run(self) -> None:
        check = database_sync_to_async(self.check_sync, thread_sensitive=False, executor=self.runtime.queries)
        while True:
            interval = float(conf.get("ACCOUNT_CHECK_INTERVAL"))
            try:
                found = await check()
            except Exception:
                logger.exception("Session %s: checking its account failed; trying again", self.session_id)
                await asyncio.sleep(interval)
                continue
            if not found.allowed:
                logger.info(
                    "Session %s: user %s may no longer use %r", self.session_id, self.user_id, self.endpoint.slug
                )
                self.close(CloseReason.ACCESS_REVOKED, ACCESS_REVOKED)
                return
            standing = found.standing
            left = standing.seconds_left if standing is not None else None
            if standing is not None and (data := standing.as_data()) is not None:
                self.tell(protocol.event("quota", data))
            if left is not None:
                if left <= END_TOLERANCE:
                    self.close(CloseReason.QUOTA_EXHAUSTED, QUOTA_EXHAUSTED)
                    return
                # Each of the user's live sessions spends the same minutes.
                interval = min(interval, left / max(1, standing.live if standing else 1))
            await asyncio.sleep(interval)
