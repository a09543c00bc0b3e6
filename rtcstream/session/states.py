"""The states of a session and the transitions between them."""

from __future__ import annotations

import enum


class SessionState(enum.Enum):
    NEW = "new"  # the socket is open; no offer yet (or the last one was refused)
    NEGOTIATING = "negotiating"  # an offer is being admitted and answered; ICE and DTLS are connecting
    REFUSING = "refusing"  # the offer was refused: what it took is being given back, then NEW
    CONNECTED = "connected"  # media flows and the handler runs
    CLOSING = "closing"  # tearing down tasks, tracks and the peer connection
    CLOSED = "closed"


TRANSITIONS: dict[SessionState, set[SessionState]] = {
    SessionState.NEW: {SessionState.NEGOTIATING, SessionState.CLOSING},
    SessionState.NEGOTIATING: {SessionState.CONNECTED, SessionState.REFUSING, SessionState.CLOSING},
    # Back to NEW once a refused offer (limit, bad SDP) has let go of all it held: the client may try again.
    SessionState.REFUSING: {SessionState.NEW, SessionState.CLOSING},
    SessionState.CONNECTED: {SessionState.CLOSING},
    SessionState.CLOSING: {SessionState.CLOSED},
    SessionState.CLOSED: set(),
}

# Closing or closed: nothing new starts.
ENDING = frozenset({SessionState.CLOSING, SessionState.CLOSED})


class InvalidTransition(RuntimeError):
    """A session was asked to move to a state it cannot reach from where it is."""

    def __init__(self, current: SessionState, target: SessionState) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        super().__init__(f"A {current.value} session cannot become {target.value} (allowed: {allowed}).")
        self.current = current
        self.target = target
