"""Why an offer is refused before it takes a slot: the endpoint is full, or its handler is stuck."""

from __future__ import annotations

from rtcstream import conf
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.execution import calls
from rtcstream.reasons import Refusal


class Refused(Exception):
    """An offer is refused before any slot is taken; ``code`` is its ``Refusal``."""

    code: Refusal


class SessionLimitReached(Refused):
    """The endpoint already runs as many sessions as its concurrency limit allows."""

    code = Refusal.CONCURRENCY_LIMIT

    def __init__(self, endpoint: str, limit: int) -> None:
        super().__init__(
            f"The endpoint {endpoint!r} is at its limit of {limit} concurrent session{'s' if limit != 1 else ''}; "
            "try again when one ends."
        )
        self.endpoint = endpoint
        self.limit = limit


class HandlerStuck(Refused):
    """Calls into the endpoint's handler made by ended sessions have not returned, too many of them."""

    code = Refusal.HANDLER_STUCK

    def __init__(self, endpoint: str, stuck: int) -> None:
        super().__init__(
            f"The handler of {endpoint!r} has {stuck} calls that did not return after their sessions ended; "
            "new sessions are refused until they do (the server's log names them)."
        )


def stuck_limit() -> int:
    """How many stuck calls of one handler stop its endpoints from opening sessions."""
    return max(1, conf.get("WORKER_THREADS") // 4)


def refuse_if_stuck(endpoint: Endpoint) -> None:
    """Raise ``HandlerStuck`` when the endpoint's handler holds ``stuck_limit()`` stuck calls.

    Each would hold a thread for ever: opening more sessions of such a handler
    would only grow the process's threads, so they wait until those calls return.
    """
    stuck = calls.stuck_calls(endpoint.spec.name)
    if stuck >= stuck_limit():
        raise HandlerStuck(endpoint.slug, stuck)


class QuotaMinutesReached(Refused):
    """The user has streamed all the minutes their quota gives them today."""

    code = Refusal.QUOTA_MINUTES

    def __init__(self, minutes: float) -> None:
        super().__init__(f"You have used your {minutes:g} minutes of streaming for today; more tomorrow.")


class QuotaSessionsReached(Refused):
    """The user already has as many sessions open as their quota allows."""

    code = Refusal.QUOTA_SESSIONS

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} stream{'s' if limit != 1 else ''} open, as many as your quota allows; "
            "close one to start another."
        )


class QueueFull(Refused):
    """The endpoint is at its limit and its waiting room holds as many clients as it may."""

    code = Refusal.QUEUE_FULL

    def __init__(self, endpoint: str, length: int) -> None:
        super().__init__(f"The endpoint {endpoint!r} is full, and so is its waiting room ({length} waiting).")


class QueueTimeout(Refused):
    """The client waited in the waiting room as long as the endpoint allows."""

    code = Refusal.QUEUE_TIMEOUT

    def __init__(self, endpoint: str, seconds: float) -> None:
        super().__init__(f"No seat freed on {endpoint!r} within the longest wait of {seconds:g} s.")
