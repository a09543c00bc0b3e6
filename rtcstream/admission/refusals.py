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
