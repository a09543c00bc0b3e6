"""Turn detection: where the user starts talking and where they pause, from a streaming VAD.

``TurnDetector`` is pure and synchronous: feed it mono int16 audio at the
input rate and it returns ``SpeechStarted`` and ``TurnEnded`` events, and,
when it serves a turn model, ``ShortPause`` events: the moment to ask the
model whether the turn is complete (``end_turn_now`` ends it on its answer). It
resamples once per frame with a stateful resampler, runs the VAD on every
32 ms window (a probability, with hysteresis), keeps a ring buffer of recent
input so the utterance includes the audio just before the detected onset, and
caps an utterance at ``max_utterance_s``. Memory is bounded by
``pre_roll_s + min_speech_s + 0.5 s`` of history plus one utterance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from rtcstream.handlers.vad import VoiceActivityDetector


# With a turn model: ask it after this much silence, and end the turn after the longest pause whatever it says
# (docs/performance.md has the figures behind both).
TURN_MODEL_PAUSE_S = 0.3
TURN_MODEL_MAX_PAUSE_S = 1.5


@dataclass
class AlgoOptions:
    """FastRTC's chunked pause detection options, accepted for compatibility.

    FastRTC evaluates tumbling 0.6 s chunks; ``TurnOptions.from_algo_options``
    maps them to the streaming detector (see there).
    """

    audio_chunk_duration: float = 0.6
    started_talking_threshold: float = 0.2
    speech_threshold: float = 0.1
    max_continuous_speech_s: float = float("inf")


@dataclass
class SileroVadOptions:
    """FastRTC's Silero options (``ReplyOnPause(model_options=...)``), accepted for compatibility.

    Only ``threshold`` is used (as the start threshold, with the continue
    threshold 0.15 below it, as Silero does: ``TurnOptions.with_model_options``);
    the others describe FastRTC's chunked algorithm, which ``TurnOptions`` replaces.
    """

    threshold: float = 0.5
    min_speech_duration_ms: int = 250
    max_speech_duration_s: float = float("inf")
    min_silence_duration_ms: int = 2000
    window_size_samples: int = 1024
    speech_pad_ms: int = 400


@dataclass(frozen=True)
class TurnOptions:
    """How turns are detected. Times are in seconds.

    - ``threshold``: a window at or above this probability may start speech.
    - ``neg_threshold``: once started, speech goes on while windows stay at or
      above this (hysteresis: start high, continue lower, as Silero does).
    - ``min_speech_s``: speech must last this long (windows at or above
      ``neg_threshold`` since one at ``threshold``) before ``SpeechStarted``;
      it filters clicks and coughs, and delays barge-in by as much.
    - ``min_silence_s``: this much continuous non-speech ends the turn: the pause.
    - ``pre_roll_s``: audio kept before the detected onset (itself placed
      ``vad_latency_s`` before the VAD's first confident window) and put at the
      head of the utterance, so the first syllable is never clipped. 0.1 s
      clipped nothing more than 0.4 s on the browser bench's h/s/f onsets, and
      a handler that plays the utterance back (an echo) plays this much
      silence first; raise it (the endpoint option ``pre_roll_s``) for a speech
      recogniser that wants more leading context.
    - ``max_utterance_s``: an utterance this long is turned in (reason
      ``"max_length"``); speech that goes on forms the next utterance.
    - ``min_resume_s``: during a pause, speech shorter than this (a click, a
      breath) does not restart the silence count; 0 means any speech window does.
    - ``vad_tail_s``: how long the VAD's probability stays up after the voice
      stops (Silero: about three 32 ms windows); the pause is counted from the
      end of the voice, so it ends after ``min_silence_s - vad_tail_s`` of
      windows below ``neg_threshold``.
    - ``vad_latency_s``: how late the VAD's probability rises after the voice
      starts; onsets are placed this much before the first window above
      ``threshold``. Silero crosses 0.5 one to three 32 ms windows after the
      energy onset on espeak-ng speech (fricatives are the latest).

    With a turn model (``ReplyOnPause(turn_model=...)``), ``min_silence_s``
    is not used; instead:

    - ``turn_model_pause_s``: after this much silence the model is asked
      whether the turn is complete; if it says so (a probability above
      ``turn_model_threshold``), the turn ends then;
    - ``turn_model_max_pause_s``: this much silence ends the turn whatever
      the model said (or if it has not answered yet): a reply is never held
      back longer.
    """

    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_s: float = 0.064
    min_silence_s: float = 0.45
    pre_roll_s: float = 0.1
    max_utterance_s: float = 30.0
    min_resume_s: float = 0.0
    vad_latency_s: float = 0.064
    vad_tail_s: float = 0.096
    turn_model_pause_s: float = TURN_MODEL_PAUSE_S
    turn_model_max_pause_s: float = TURN_MODEL_MAX_PAUSE_S
    turn_model_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.neg_threshold <= self.threshold <= 1.0:
            raise ValueError("TurnOptions needs 0 < neg_threshold <= threshold <= 1")
        if not 0.0 < self.turn_model_pause_s < self.turn_model_max_pause_s:
            raise ValueError("TurnOptions needs 0 < turn_model_pause_s < turn_model_max_pause_s")
        if not 0.0 < self.turn_model_threshold < 1.0:
            raise ValueError("TurnOptions.turn_model_threshold must be between 0 and 1")
        if (
            min(
                self.min_speech_s,
                self.min_silence_s,
                self.pre_roll_s,
                self.min_resume_s,
                self.vad_latency_s,
                self.vad_tail_s,
            )
            < 0
        ):
            raise ValueError("TurnOptions durations must not be negative")
        if not 0 < self.max_utterance_s < math.inf:
            raise ValueError("TurnOptions.max_utterance_s must be positive and finite (it bounds memory)")

    def with_algo_options(self, algo: Any) -> TurnOptions:
        """Return these options with FastRTC's ``AlgoOptions`` mapped onto them.

        - ``audio_chunk_duration`` → ``min_silence_s``: FastRTC ends a turn on
          the first 0.6 s chunk without speech; we end it after the same length
          of continuous silence, measured every 32 ms instead of on a 0.6 s grid.
        - ``started_talking_threshold`` → ``min_speech_s``: the speech needed to
          count as talking.
        - ``speech_threshold`` → ``min_resume_s``: FastRTC treats a chunk with
          less speech than this as silent; we let speech shorter than this
          leave a pause running.
        - ``max_continuous_speech_s`` → ``max_utterance_s``; ``inf`` keeps our
          finite default, since an utterance must be bounded.
        """
        changes: dict[str, float] = {
            "min_silence_s": float(algo.audio_chunk_duration),
            "min_speech_s": float(algo.started_talking_threshold),
            "min_resume_s": float(algo.speech_threshold),
        }
        if math.isfinite(algo.max_continuous_speech_s):
            changes["max_utterance_s"] = float(algo.max_continuous_speech_s)
        return replace(self, **changes)

    def with_model_options(self, model_options: Any) -> TurnOptions:
        """Return these options with a FastRTC ``SileroVadOptions``' (or dict's) ``threshold`` applied."""
        threshold = (
            model_options.get("threshold")
            if isinstance(model_options, dict)
            else getattr(model_options, "threshold", None)
        )
        if threshold is None:
            return self
        return replace(self, threshold=float(threshold), neg_threshold=max(float(threshold) - 0.15, 0.01))


@dataclass(frozen=True)
class SpeechStarted:
    """Speech was confirmed. Positions count input samples since the detector started."""

    onset: int  # the first sample of the speech, as the VAD placed it
    position: int  # how much input had been fed when it was confirmed
    sample_rate: int

    @property
    def onset_s(self) -> float:
        return self.onset / self.sample_rate


@dataclass(frozen=True)
class TurnEnded:
    """An utterance is complete: ``audio`` is int16 (1, n) at the input rate, pre-roll included."""

    audio: np.ndarray
    sample_rate: int
    reason: Literal["pause", "max_length", "forced"]
    start: int  # input position of audio[0, 0]
    # For a pause: how long the voice had been silent when the pause was called (the
    # windows below neg_threshold, plus the VAD's tail), in seconds; 0 otherwise.
    silence_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.audio.shape[1] / self.sample_rate


@dataclass(frozen=True)
class ShortPause:
    """The speaker has been silent ``TurnOptions.turn_model_pause_s``: time to ask the turn model.

    ``pause`` identifies this pause for ``TurnDetector.end_turn_now``; it stops
    being current when speech resumes or the turn ends another way.
    """

    pause: int
    position: int  # how much input had been fed
    sample_rate: int


TurnEvent = SpeechStarted | TurnEnded | ShortPause


class _History:
    """The last ``capacity`` input samples, addressed by absolute position."""

    def __init__(self, capacity: int) -> None:
        self._buffer = np.zeros(capacity, dtype=np.int16)
        self.end = 0  # absolute position of the next sample

    @property
    def start(self) -> int:
        return max(0, self.end - len(self._buffer))

    def append(self, samples: np.ndarray) -> None:
        capacity = len(self._buffer)
        skipped = max(0, len(samples) - capacity)  # older than what we keep
        kept = samples[skipped:]
        index = (self.end + skipped) % capacity
        first = min(len(kept), capacity - index)
        self._buffer[index : index + first] = kept[:first]
        self._buffer[: len(kept) - first] = kept[first:]
        self.end += len(samples)

    def since(self, position: int) -> np.ndarray:
        """Return a copy of the samples from ``position`` (clamped to what is kept) to the end."""
        position = max(position, self.start)
        capacity = len(self._buffer)
        indices = np.arange(position, self.end) % capacity
        return self._buffer[indices]


def _soxr() -> Any:
    import soxr  # loaded when a voice session starts; the registry checks it is installed (kinds.needs)

    return soxr


def _check_windows(vad: VoiceActivityDetector) -> None:
    """Raise a ``ValueError`` that names the VAD if its window is not a positive number of samples at a positive rate."""
    for name in ("window_samples", "sample_rate"):
        value = getattr(vad, name, None)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{type(vad).__qualname__}.{name} must be a positive int, not {value!r}")


def _checked_probability(probability: Any, vad: VoiceActivityDetector) -> float:
    """``probability`` if it is a number from 0 to 1; else a ``ValueError`` that names the VAD (NaN included)."""
    if isinstance(probability, (int, float, np.floating)) and 0.0 <= probability <= 1.0:
        return float(probability)
    raise ValueError(f"{type(vad).__qualname__}.process returned {probability!r}, not a speech probability from 0 to 1")


class TurnDetector:
    """Find speech onsets and pauses in a live mono int16 stream.

    Not thread-safe: one stream, one caller.
    """

    def __init__(
        self,
        options: TurnOptions | None = None,
        sample_rate: int = 48000,
        vad: VoiceActivityDetector | None = None,
        asks_turn_model: bool = False,
    ) -> None:
        """``asks_turn_model``: emit ``ShortPause`` after ``turn_model_pause_s`` of silence, and end turns
        after ``turn_model_max_pause_s`` instead of ``min_silence_s``."""
        self.options = options or TurnOptions()
        self.asks_turn_model = asks_turn_model
        self.sample_rate = sample_rate
        if vad is None:
            from rtcstream.handlers.vad import SileroVAD  # the model loads here: a voice session has begun

            vad = SileroVAD()
        _check_windows(vad)
        self.vad = vad
        self._window = self.vad.window_samples
        self._window_s = self._window / self.vad.sample_rate
        # Input samples per VAD window: maps window indices back to input positions.
        self._ratio = sample_rate / self.vad.sample_rate
        self._min_speech = self._windows(self.options.min_speech_s)
        pause_s = self.options.turn_model_max_pause_s if asks_turn_model else self.options.min_silence_s
        self._min_silence = self._windows(max(0.0, pause_s - self.options.vad_tail_s))
        self._ask_silence = (
            max(1, self._windows(self.options.turn_model_pause_s - self.options.vad_tail_s))
            if asks_turn_model
            else None
        )
        self._pause = 0  # ShortPause events so far: the current one's ``pause``
        self._min_resume = self._windows(self.options.min_resume_s)
        self._max_utterance = round(self.options.max_utterance_s * sample_rate)
        history_s = self.options.pre_roll_s + self.options.vad_latency_s + self.options.min_speech_s + 0.5
        self._history = _History(max(1, round(history_s * sample_rate)))
        self.last_probability = 0.0
        self.reset()

    def _windows(self, seconds: float) -> int:
        return math.ceil(seconds / self._window_s - 1e-9)

    def reset(self) -> None:
        """Forget everything: a new stream starts at position 0."""
        self.vad.reset()
        self._resampler = (
            None
            if self.sample_rate == self.vad.sample_rate
            else _soxr().ResampleStream(self.sample_rate, self.vad.sample_rate, 1, dtype="float32", quality="LQ")
        )
        self._pending = np.zeros(0, dtype=np.float32)  # VAD-rate samples not yet a full window
        self._window_index = 0
        self._history = _History(len(self._history._buffer))
        self._consumed = 0  # audio before this position already went into a turn
        self._idle()

    def _idle(self) -> None:
        self._speaking = False
        self._candidate: int | None = None  # window index where possible speech began
        self._candidate_windows = 0
        self._utterance: list[np.ndarray] = []
        self._utterance_samples = 0
        self._utterance_start = 0
        self._speech_run = 0  # windows of speech, then of silence, inside an utterance
        self._silence_run = 0
        self._asked = False  # a ShortPause was emitted for the silence running now

    @property
    def speaking(self) -> bool:
        """True between ``SpeechStarted`` and the ``TurnEnded`` that follows."""
        return self._speaking

    @property
    def position(self) -> int:
        """How many input samples have been fed."""
        return self._history.end

    def feed(self, samples: np.ndarray) -> list[TurnEvent]:
        """Take mono int16 audio at ``sample_rate`` (shape (n,) or (1, n)); return the events it completes."""
        mono = np.asarray(samples).reshape(-1)
        if mono.dtype != np.int16:
            mono = np.clip(np.round(mono.astype(np.float32) * 32768), -32768, 32767).astype(np.int16)
        self._history.append(mono)
        if self._speaking:
            self._utterance.append(mono.copy())
            self._utterance_samples += len(mono)
        scaled = mono.astype(np.float32) / 32768.0
        resampled = scaled if self._resampler is None else self._resampler.resample_chunk(scaled)
        self._pending = np.concatenate([self._pending, resampled]) if len(self._pending) else resampled
        events: list[TurnEvent] = []
        while len(self._pending) >= self._window:
            window, self._pending = self._pending[: self._window], self._pending[self._window :]
            probability = _checked_probability(self.vad.process(window), self.vad)
            self.last_probability = probability
            event = self._step(probability)
            self._window_index += 1
            if event is not None:
                events.append(event)
        if self._speaking and self._utterance_samples >= self._max_utterance:
            events.append(self._end_turn("max_length", keep_speaking=True))
        return events

    def flush(self) -> TurnEnded:
        """End the turn now (``reason="forced"``): the utterance so far, or an empty (1, 0) array if none."""
        if self._speaking:
            return self._end_turn("forced", keep_speaking=False)
        self._consumed = self._history.end
        return TurnEnded(np.zeros((1, 0), dtype=np.int16), self.sample_rate, "forced", self._history.end)

    def end_turn_now(self, pause: int) -> TurnEnded | None:
        """End the turn (``reason="pause"``) if ``pause`` is the silence still running; else None.

        For the turn model's "complete": an answer that arrives after speech
        resumed, or after the turn ended otherwise, ends nothing.
        """
        if not (self._speaking and self._asked and pause == self._pause):
            return None
        return self._end_turn("pause", keep_speaking=False)

    def utterance_tail(self, seconds: float) -> np.ndarray:
        """Return a copy of the last ``seconds`` of the utterance in progress (int16, empty if none)."""
        wanted = round(seconds * self.sample_rate)
        parts: list[np.ndarray] = []
        count = 0
        for chunk in reversed(self._utterance):
            parts.append(chunk)
            count += len(chunk)
            if count >= wanted:
                break
        tail = np.concatenate(parts[::-1]) if parts else np.zeros(0, dtype=np.int16)
        return tail[max(0, len(tail) - wanted) :].copy()

    def discard(self) -> None:
        """Drop the utterance in progress, if any, and wait for new speech."""
        self._consumed = self._history.end
        self._idle()

    def _input_position(self, window_index: int) -> int:
        return round(window_index * self._window * self._ratio)

    def _step(self, probability: float) -> TurnEvent | None:
        options = self.options
        if not self._speaking:
            if self._candidate is None:
                if probability >= options.threshold:
                    self._candidate, self._candidate_windows = self._window_index, 1
            elif probability >= options.neg_threshold:
                self._candidate_windows += 1
            else:
                self._candidate = None
            if self._candidate is not None and self._candidate_windows >= max(1, self._min_speech):
                return self._start_speech(self._candidate)
            return None
        if probability < options.neg_threshold:
            self._speech_run = 0
            self._silence_run += 1
        else:
            self._speech_run += 1
            if self._speech_run >= max(1, self._min_resume):
                self._silence_run = 0
                self._asked = False  # the speaker went on: the model's answer about that pause ends nothing
            elif self._silence_run > 0:
                # A burst shorter than min_resume_s inside a pause counts as pause.
                self._silence_run += 1
        if self._silence_run >= max(1, self._min_silence):
            return self._end_turn("pause", keep_speaking=False)
        if self._ask_silence is not None and not self._asked and self._silence_run >= self._ask_silence:
            self._asked = True
            self._pause += 1
            return ShortPause(self._pause, self._history.end, self.sample_rate)
        return None

    def _start_speech(self, onset_window: int) -> SpeechStarted:
        onset = max(0, self._input_position(onset_window) - round(self.options.vad_latency_s * self.sample_rate))
        start = max(onset - round(self.options.pre_roll_s * self.sample_rate), self._consumed, self._history.start)
        head = self._history.since(start)
        self._speaking = True
        self._candidate = None
        self._speech_run = 0
        self._silence_run = 0
        self._utterance = [head]
        self._utterance_samples = len(head)
        self._utterance_start = self._history.end - len(head)
        return SpeechStarted(onset=onset, position=self._history.end, sample_rate=self.sample_rate)

    def _end_turn(self, reason: Literal["pause", "max_length", "forced"], keep_speaking: bool) -> TurnEnded:
        audio = np.concatenate(self._utterance) if self._utterance else np.zeros(0, dtype=np.int16)
        silence = self._silence_run * self._window_s + self.options.vad_tail_s if reason == "pause" else 0.0
        turn = TurnEnded(audio.reshape(1, -1), self.sample_rate, reason, self._utterance_start, silence)
        self._consumed = self._history.end
        self._asked = False
        if keep_speaking:
            # The user is still talking: the rest forms the next utterance, with no pre-roll overlap.
            self._utterance, self._utterance_samples = [], 0
            self._utterance_start = self._history.end
        else:
            self._idle()
        return turn
