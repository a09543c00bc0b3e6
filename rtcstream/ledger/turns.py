"""Turns from a session's events: ReplyOnPause's ``started_talking``, ``pause_detected``,
``response_starting``, ``response_done``, ``playback_done`` and ``interrupted``, plus
the moments only the session sees (the first reply audio sent, the first output
published, an error).

``TurnTracker`` is pure: it is told what happened and when (seconds on a
monotonic clock), and hands each turn, once it is over, to ``finished``. It holds
at most three turns at a time (the utterance being spoken, the turn being
answered, and one whose reply a new turn has just replaced), so a session that
talks for hours holds no more than one that talks for a minute.

The events arrive in the order ReplyOnPause sends them. Two orders need care:
speech over a reply sends ``started_talking`` then ``interrupted`` (the reply
stopped is the one being answered), and a pause while a reply still plays sends
``pause_detected`` then ``interrupted`` (the reply stopped is the previous one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class TurnRecord:
    """One turn as it happened; times are monotonic seconds, None when it did not happen."""

    index: int = 0  # set when the utterance becomes a turn (its pause), or a reply starts without one
    cause: str = ""  # "pause", "max_length", "trigger", "startup", or "" (the session ended first)
    speech_started: float | None = None
    pause_detected: float | None = None
    reply_started: float | None = None
    first_audio: float | None = None
    first_output: float | None = None
    response_done: float | None = None
    playback_done: float | None = None
    interrupted: float | None = None
    utterance_seconds: float | None = None
    silence_seconds: float | None = None
    error: str = ""

    @property
    def started(self) -> float:
        """When the turn began: the speech, else the pause (a trigger), else the reply (a greeting)."""
        for moment in (self.speech_started, self.pause_detected, self.reply_started):
            if moment is not None:
                return moment
        raise ValueError("a turn with no moment")

    @property
    def outcome(self) -> str:
        if self.error:
            return "error"
        if self.interrupted is not None:
            return "interrupted"
        if self.playback_done is not None:
            return "completed"
        if self.pause_detected is None and self.reply_started is None:
            return "unanswered"
        return "unfinished"

    @property
    def reply_latency(self) -> float | None:
        """Seconds from the pause detected to the first audio of the reply sent."""
        if self.pause_detected is None or self.first_audio is None:
            return None
        return self.first_audio - self.pause_detected

    @property
    def output_latency(self) -> float | None:
        """Seconds from the pause detected to the first ``AdditionalOutputs`` published."""
        if self.pause_detected is None or self.first_output is None:
            return None
        return self.first_output - self.pause_detected


class TurnTracker:
    """Follows one session's turns; ``finished(turn)`` gets each turn once it is over."""

    def __init__(self, finished: Callable[[TurnRecord], None]) -> None:
        self._finished = finished
        self.turns = 0  # turns numbered so far
        self.interruptions = 0
        self._listening: TurnRecord | None = None  # speech started, no pause yet
        self._answering: TurnRecord | None = None  # the turn whose reply runs (or is awaited)
        self._replaced: TurnRecord | None = None  # the previous turn, for the interrupted that may follow a pause

    def event(self, name: str, data: dict[str, Any], now: float) -> None:
        """Take one event the session sent to its page (others than ReplyOnPause's are ignored)."""
        handler = getattr(self, f"_on_{name}", None)
        if handler is None:
            return
        if name != "interrupted" and self._replaced is not None:
            self._finish(self._replaced)  # it was not stopped: it ran out before the new turn
            self._replaced = None
        handler(data, now)

    def _on_started_talking(self, data: dict[str, Any], now: float) -> None:
        # An earlier utterance that never became a turn (half duplex discards it) is forgotten.
        self._listening = TurnRecord(speech_started=now)

    def _on_pause_detected(self, data: dict[str, Any], now: float) -> None:
        turn, self._listening = self._listening or TurnRecord(), None
        turn.index = self._number()
        turn.pause_detected = now
        turn.cause = str(data.get("reason") or "pause")
        turn.utterance_seconds = _number(data.get("duration"))
        turn.silence_seconds = _number(data.get("silence")) if turn.cause == "pause" else None
        if self._answering is not None:
            self._replaced = self._answering
        self._answering = turn

    def _on_interrupted(self, data: dict[str, Any], now: float) -> None:
        turn = self._replaced or self._answering
        if turn is self._replaced:
            self._replaced = None
        else:
            self._answering = None
        if turn is not None:
            turn.interrupted = now
            self.interruptions += 1
            self._finish(turn)

    def _on_response_starting(self, data: dict[str, Any], now: float) -> None:
        turn = self._answering
        if turn is None or turn.reply_started is not None:
            if turn is not None:
                self._finish(turn)
            turn = self._answering = TurnRecord(index=self._number(), cause="startup")  # a greeting: no turn before it
        turn.reply_started = now

    def _on_response_done(self, data: dict[str, Any], now: float) -> None:
        if self._answering is not None:
            self._answering.response_done = now

    def _on_playback_done(self, data: dict[str, Any], now: float) -> None:
        turn, self._answering = self._answering, None
        if turn is not None:
            turn.playback_done = now
            self._finish(turn)

    def reply_audio(self, now: float) -> None:
        """A frame carrying reply audio was sent; the first one after ``response_starting`` counts."""
        turn = self._answering
        if turn is not None and turn.reply_started is not None and turn.first_audio is None:
            turn.first_audio = now

    def output(self, now: float) -> None:
        """The handler published ``AdditionalOutputs``; the first one of a turn's reply counts."""
        turn = self._answering
        if turn is not None and turn.first_output is None:
            turn.first_output = now

    def error(self, message: str) -> None:
        """The session failed: the turn being answered (or spoken) failed with it."""
        turn = self._answering or self._listening
        if turn is not None:
            turn.error = message

    def close(self) -> None:
        """The session ended: what is still open is over too."""
        for turn in (self._replaced, self._answering, self._listening):
            if turn is None:
                continue
            if not turn.index:
                turn.index = self._number()
            self._finish(turn)
        self._replaced = self._answering = self._listening = None

    def _number(self) -> int:
        self.turns += 1
        return self.turns

    def _finish(self, turn: TurnRecord) -> None:
        self._finished(turn)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
