"""One session's ledger: what it records, from the session's own events, on the server's clock.

The session context hands every event it sends to its page to ``event`` (one
place: ReplyOnPause's turn events and the session's ``connected``), and tells
it of the first reply audio sent, outputs published, warnings shown to the
visitor (counted, the last one kept) and failures. Times are
read from a monotonic clock when each happens and turned into dates from one
wall-clock reading, so a turn's moments never go backwards. Finished turns
and the session's summary go to the process's ``LedgerWriter``; nothing here
touches the database, and nothing here grows with the session's length.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from typing import Any

from rtcstream import conf
from rtcstream.ledger.turns import TurnRecord, TurnTracker
from rtcstream.ledger.writer import LedgerWriter, RefusedSession, SessionUpdate, TurnRow

logger = logging.getLogger("rtcstream.ledger")

# How long a session's end waits for its ledger rows to be written; past it they are written later.
CLOSE_WAIT = 5.0
MESSAGE_CHARS = 2000  # of an error or a warning kept


class SessionLedger:
    """Records one session; every method is safe from the loop or a worker thread and never blocks on I/O."""

    enabled = True

    def __init__(self, writer: LedgerWriter, session_id: str, endpoint_slug: str) -> None:
        self._writer = writer
        self.session_id = session_id
        self.endpoint_slug = endpoint_slug
        self._wall = time.time()
        self._mono = time.monotonic()
        self._lock = threading.Lock()  # a sync handler's send_message comes from a worker thread
        self._tracker = TurnTracker(self._turn_over)
        self._turn_rows: int | None = conf.get("LEDGER_TURNS_PER_SESSION")  # rows it may still write (None: any)
        self._connected: float | None = None
        self._error = ""
        self._warnings = 0
        self._last_warning = ""
        self._closed = False
        self._wrote = False  # anything queued: the end then waits for it to be written

    def at(self, moment: float | None) -> datetime.datetime | None:
        """The date of a monotonic ``moment`` on this ledger's clock."""
        if moment is None:
            return None
        return datetime.datetime.fromtimestamp(self._wall + (moment - self._mono), tz=datetime.UTC)

    def event(self, name: str, data: dict[str, Any]) -> None:
        """The session sent the event ``name`` to its page."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            if name == "connected" and self._connected is None:
                self._connected = now
                self._put(SessionUpdate(self.session_id, {"connected_at": self.at(now)}))
                return
            self._tracker.event(name, data, now)

    def reply_audio(self) -> None:
        """A frame carrying a reply's audio went out."""
        now = time.monotonic()
        with self._lock:
            self._tracker.reply_audio(now)

    def output(self) -> None:
        """The handler published ``AdditionalOutputs``."""
        now = time.monotonic()
        with self._lock:
            self._tracker.output(now)

    def refused(self, reason: str, user: Any, client: str | None) -> None:
        """An offer of this session was refused (a ``Refusal``). Admission writes the row of the refusals
        it decides; this one is for those decided before it (``server_busy``, ``handler_stuck``), so that
        the admin's charts count every refused offer. It adds nothing to a row that exists."""
        from rtcstream.models import StreamSession

        now = datetime.datetime.now(datetime.UTC)
        fields: dict[str, Any] = {
            "session_id": self.session_id,
            "endpoint_slug": self.endpoint_slug,
            **StreamSession.who(user, client),
            "started_at": now,
            "heartbeat_at": now,
            "ended_at": now,
            "end_reason": reason,
        }
        self._writer.put(RefusedSession(fields))

    def warned(self, message: str) -> None:
        """The page was shown the warning ``message`` (the handler's ``Warning``); the session goes on."""
        with self._lock:
            if self._closed:
                return
            self._warnings += 1
            self._last_warning = message[:MESSAGE_CHARS]

    def failed(self, message: str) -> None:
        """The session is ending with an error: ``message`` says what failed."""
        with self._lock:
            self._error = self._error or message[:MESSAGE_CHARS]
            self._tracker.error(message[:MESSAGE_CHARS])

    async def close(self) -> None:
        """Record the session's end and wait (a moment at most) until its rows are written."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            self._tracker.close()
            self._closed = True
            if not (self._connected is not None or self._wrote or self._error or self._warnings):
                return  # it never started: its row (if it has one) says all there is
            summary: dict[str, Any] = {
                "turn_count": self._tracker.turns,
                "interruption_count": self._tracker.interruptions,
                "error": self._error,
                "warning_count": self._warnings,
                "last_warning": self._last_warning,
            }
            if self._connected is not None:
                summary["media_seconds"] = round(now - self._connected, 3)
            self._put(SessionUpdate(self.session_id, summary))
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await asyncio.wrap_future(self._writer.barrier())
        except TimeoutError:
            logger.warning("Session %s: its ledger rows are still being written", self.session_id)

    def _put(self, write: SessionUpdate | TurnRow) -> None:
        self._wrote = True
        self._writer.put(write)

    def _turn_over(self, turn: TurnRecord) -> None:
        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 1)

        if self._turn_rows is not None:
            if self._turn_rows <= 0:
                return  # past the cap: counted in turn_count, not written
            self._turn_rows -= 1
            if self._turn_rows == 0:
                logger.warning(
                    "Session %s: the ledger writes no more of its turns (LEDGER_TURNS_PER_SESSION); it counts them",
                    self.session_id,
                )
        self._put(
            TurnRow(
                {
                    "session_id": self.session_id,
                    "endpoint_slug": self.endpoint_slug,
                    "index": turn.index,
                    "cause": turn.cause,
                    "outcome": turn.outcome,
                    "started_at": self.at(turn.started),
                    "speech_started_at": self.at(turn.speech_started),
                    "pause_detected_at": self.at(turn.pause_detected),
                    "reply_started_at": self.at(turn.reply_started),
                    "first_audio_at": self.at(turn.first_audio),
                    "first_output_at": self.at(turn.first_output),
                    "response_done_at": self.at(turn.response_done),
                    "playback_done_at": self.at(turn.playback_done),
                    "interrupted_at": self.at(turn.interrupted),
                    "utterance_seconds": turn.utterance_seconds,
                    "pause_ms": ms(turn.silence_seconds),
                    "reply_latency_ms": ms(turn.reply_latency),
                    "output_latency_ms": ms(turn.output_latency),
                    "error": turn.error,
                }
            )
        )


class NoLedger:
    """The ledger of a session that keeps none (``RTCSTREAM["LEDGER"]`` off, or no session rows)."""

    enabled = False

    def event(self, name: str, data: dict[str, Any]) -> None:
        pass

    def reply_audio(self) -> None:
        pass

    def output(self) -> None:
        pass

    def refused(self, reason: str, user: Any, client: str | None) -> None:
        pass

    def warned(self, message: str) -> None:
        pass

    def failed(self, message: str) -> None:
        pass

    async def close(self) -> None:
        pass


Ledger = SessionLedger | NoLedger
NO_LEDGER = NoLedger()


def open_ledger(writer: LedgerWriter | None, session_id: str, endpoint_slug: str) -> Ledger:
    """Return the ledger of a new session: a real one when the process keeps one."""
    return NO_LEDGER if writer is None else SessionLedger(writer, session_id, endpoint_slug)
