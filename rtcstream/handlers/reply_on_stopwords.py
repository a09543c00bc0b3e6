"""ReplyOnStopWords: reply only when the user has said a wake phrase, then spoken and paused.

It is ReplyOnPause with another turn detector in front (``StopWordTurns``): the same
turn taking, replies, events and options, plus offline keyword spotting
(``rtcstream.handlers.stopwords``: PocketSphinx and the model its wheel ships).
FastRTC's ``ReplyOnStopWords`` runs speech-to-text every 0.6 s on a rolling 2 s
buffer and matches the text; here the phrase is spotted from its phonemes as it
is heard, so nothing is transcribed.

What one session goes through, as in FastRTC:

- **waiting**: every frame goes to the stop-word detector only (the VAD does not run);
  speech without the phrase is not a turn.
- **armed**: the phrase was heard (event ``stopword``, ``{"phrase": ...}``); ReplyOnPause's
  turn detector starts afresh at the end of the phrase, on the audio since then (kept, so
  "computer what time is it" in one breath works), and the turn goes as ReplyOnPause's
  does: ``started_talking``, ``pause_detected``, the reply. The phrase heard again before
  the pause restarts the command from there.
- once the turn is handed to ``fn``, back to **waiting**: every reply needs the phrase again.
- ``trigger`` (``trigger_response``) and typed text (``"text": True``) bypass the phrase,
  as FastRTC's trigger does: they reply at once to what was heard since the phrase (or
  to nothing), then wait for the phrase.

Barge-in (FastRTC needs the phrase, then speech and a pause, to stop a reply):

- ``can_interrupt=True``: the phrase heard while a reply is producing or playing stops it
  at once (``interrupted``), and what follows the phrase is the next command. Speech
  without the phrase never stops a reply, so neither the reply's own sound coming back
  through the microphone nor other people talking can.
- ``can_interrupt=False``: the phrase is ignored while a reply is producing or playing;
  afterwards it is needed as ever.

``fn`` gets the audio after the phrase: from where the detector places the phrase's end
(10-150 ms before its true end, measured: docs/stopwords.md) to the pause, with no
pre-roll reaching back into the phrase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from rtcstream.execution import calls
from rtcstream.handlers.reply_on_pause import ReplyOnPause, Turns
from rtcstream.handlers.stopwords import StopWordDetector, StopWordHeard, lexicon_for, normalize
from rtcstream.handlers.turn_taking import AlgoOptions, TurnEnded, TurnOptions, _History

if TYPE_CHECKING:
    from rtcstream.handlers.vad import VoiceActivityDetector

__all__ = ["ReplyOnStopWords", "StopWordTurns"]

# Input kept while waiting, so that the command is whole once the phrase is reported: the
# detector reports 40-150 ms after the phrase ends (docs/stopwords.md); this leaves room.
KEEP_SECONDS = 1.0


class RestartableTurns(Turns, Protocol):
    """A turn detector (``rtcstream.handlers.turn_taking.TurnDetector``) that can start over on a new stream."""

    def reset(self) -> None: ...


class StopWordTurns:
    """A turn detector that only starts a turn after a stop word: ``StopWordHeard``, then the
    ``SpeechStarted`` and ``TurnEnded`` of the turn detector it wraps, then waiting again.

    Used by ``ReplyOnStopWords`` the way ReplyOnPause uses a ``TurnDetector`` (``feed``, ``flush``,
    ``discard``, ``speaking``, ``sample_rate``). Not thread-safe: one stream, one caller.
    """

    def __init__(self, stop_words: StopWordDetector, turns: RestartableTurns) -> None:
        if stop_words.sample_rate != turns.sample_rate:
            raise ValueError("the stop-word detector and the turn detector must take the same sample rate")
        self.stop_words = stop_words
        self.turns = turns
        self.sample_rate = turns.sample_rate
        self._history = _History(round(KEEP_SECONDS * self.sample_rate))
        self.armed = False

    @property
    def speaking(self) -> bool:
        """True between ``SpeechStarted`` and the ``TurnEnded`` that follows."""
        return self.armed and self.turns.speaking

    @property
    def position(self) -> int:
        """How many input samples have been fed."""
        return self._history.end

    def feed(self, samples: np.ndarray) -> list[StopWordHeard | Any]:
        """Take mono int16 audio at ``sample_rate``; return the events it completes."""
        mono = np.asarray(samples, dtype=np.int16).reshape(-1)
        self._history.append(mono)
        heard = self.stop_words.feed(mono)
        events: list[Any] = []
        if heard:
            phrase = heard[-1]
            events.append(phrase)
            # Start the turn at the phrase's end, on what was heard since (this frame included).
            self.turns.reset()
            self.armed = True
            events += self.turns.feed(self._history.since(phrase.end))
        elif self.armed:
            events += self.turns.feed(mono)
        for index, event in enumerate(events):
            if isinstance(event, TurnEnded):
                self.armed = False  # the turn is in: the next one needs the phrase again
                return events[: index + 1]
        return events

    def flush(self) -> TurnEnded:
        """End the turn now (a trigger, typed text): the command heard so far, or nothing; then wait."""
        turn = self.turns.flush() if self.armed else None
        self.armed = False
        if turn is not None and turn.audio.shape[1]:
            return turn
        return TurnEnded(np.zeros((1, 0), dtype=np.int16), self.sample_rate, "forced", self.position)

    def discard(self) -> None:
        """Drop the command in progress, if any, and wait for the phrase."""
        self.armed = False
        self.turns.discard()

    def utterance_tail(self, seconds: float) -> np.ndarray:
        """The command so far (the turn model hears it, not the phrase)."""
        return self.turns.utterance_tail(seconds)

    def end_turn_now(self, pause: int) -> TurnEnded | None:
        """End the command's turn for the turn model's "complete" (None if it went on, or none is armed)."""
        turn = self.turns.end_turn_now(pause) if self.armed else None
        if turn is not None:
            self.armed = False  # the turn is in: the next one needs the phrase again
        return turn


class ReplyOnStopWords(ReplyOnPause):
    """Run ``fn((sample_rate, audio), *inputs)`` when the user says one of ``stop_words``, then speaks and pauses.

    FastRTC's signature, plus ``threshold`` (PocketSphinx's keyphrase threshold: a number,
    or one per phrase; by default ``10 ** (-4.4 x phonemes)``, lower hears more and
    false-alarms more) and ``pronunciations`` (phonemes of words the dictionary lacks,
    ``{"zorblax": "Z AO R B L AE K S"}``). Every other argument is ReplyOnPause's.
    Events: ``stopword`` (``phrase``: as given), then ReplyOnPause's. The module's docstring
    has the state machine and the barge-in rules.
    """

    _detection_waits = True  # the spotter's decoder answers from a process of its own

    def __init__(
        self,
        fn: Callable[..., Any],
        stop_words: str | Iterable[str],
        startup_fn: Callable[..., Any] | None = None,
        algo_options: AlgoOptions | None = None,
        model_options: Any = None,
        can_interrupt: bool = True,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int | None = None,
        input_sample_rate: int = 48000,
        model: VoiceActivityDetector | None = None,
        needs_args: bool = False,
        turn_options: TurnOptions | None = None,
        threshold: float | Mapping[str, float] | None = None,
        pronunciations: Mapping[str, str] | None = None,
        **turn_overrides: Any,
    ) -> None:
        phrases = [stop_words] if isinstance(stop_words, str) else list(stop_words)
        if not phrases or not all(isinstance(p, str) and normalize(p) for p in phrases):
            raise ValueError(f"ReplyOnStopWords needs stop words with words in them, got {stop_words!r}")
        super().__init__(
            fn,
            startup_fn=startup_fn,
            algo_options=algo_options,
            model_options=model_options,
            can_interrupt=can_interrupt,
            expected_layout=expected_layout,
            output_sample_rate=output_sample_rate,
            output_frame_size=output_frame_size,
            input_sample_rate=input_sample_rate,
            model=model,
            needs_args=needs_args,
            turn_options=turn_options,
            **turn_overrides,
        )
        self.stop_words = phrases
        self.threshold = threshold
        self.pronunciations = dict(pronunciations or {})

    def copy_arguments(self) -> dict[str, Any]:
        return {
            **super().copy_arguments(),
            "stop_words": self.stop_words,
            "threshold": self.threshold,
            "pronunciations": self.pronunciations,
        }

    async def aclose(self) -> None:
        """Stop the reply, then end the spotter's decoder process (in the worker pool: it waits for the process)."""
        await super().aclose()
        detector = self._detector
        if isinstance(detector, StopWordTurns):
            await calls.run_sync(detector.stop_words.close, name="the stop-word process's close")

    def check_stop_words(self) -> None:
        """Raise ``ValueError`` naming the words PocketSphinx cannot spot (``manage.py check`` calls this)."""
        lexicon_for(self.stop_words, self.pronunciations)

    def new_detector(self, sample_rate: int) -> StopWordTurns:
        """Return the stop-word detector in front of ReplyOnPause's turn detector (built in a worker thread)."""
        spotter = StopWordDetector(self.stop_words, sample_rate, self.threshold, self.pronunciations)
        return StopWordTurns(spotter, self.new_turn_detector(sample_rate))

    def on_turn_event(self, event: Any, busy: bool, detector: Turns) -> bool:
        if not isinstance(event, StopWordHeard):
            return super().on_turn_event(event, busy, detector)
        if busy and not self.can_interrupt:
            if self._detector is not None:
                self._detector.discard()  # the phrase said over a reply arms nothing
            return busy
        self.send_message("stopword", phrase=event.phrase)
        if busy:
            self._interrupt()
        return False
