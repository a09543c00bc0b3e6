"""The states of a session and the transitions between them."""

from __future__ import annotations

import enum


class SessionState(enum.Enum):
    NEW = "new"  # the socket is open; no offer yet (or the last one was refused)
    NEGOTIATING = "negotiating"  # an offer is being answered; ICE and DTLS are connecting
    CONNECTED = "connected"  # media flows and the handler runs
    CLOSING = "closing"  # tearing down tasks, tracks and the peer connection
    CLOSED = "closed"


TRANSITIONS: dict[SessionState, set[SessionState]] = {
    SessionState.NEW: {SessionState.NEGOTIATING, SessionState.CLOSING},
    # Back to NEW when an offer is refused (limit, bad SDP): the client may try again.
    SessionState.NEGOTIATING: {SessionState.CONNECTED, SessionState.NEW, SessionState.CLOSING},
    SessionState.CONNECTED: {SessionState.CLOSING},
    SessionState.CLOSING: {SessionState.CLOSED},
    SessionState.CLOSED: set(),
}


class InvalidTransition(RuntimeError):
    """A session was asked to move to a state it cannot reach from where it is."""

    def __init__(self, current: SessionState, target: SessionState) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        super().__init__(f"A {current.value} session cannot become {target.value} (allowed: {allowed}).")
        self.current = current
        self.target = target
