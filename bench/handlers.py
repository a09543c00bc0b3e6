"""Handlers for ``bench/turn_latency.py`` (registered by ``bench/settings.py``).

Two replies, each behind two turn detectors that share everything else
(server, client, media, pacing, ``ReplyOnPause``'s reply machinery):

- ``echo`` / ``echo_fastrtc``: play the utterance back from its first voiced
  5 ms block, in 100 ms chunks (the end of speech -> reply latency).
- ``talk`` / ``talk_fastrtc``: an 8 s tone at the frequency the page sent as
  its first input, in 100 ms chunks (barge-in: the tone is easy to tell from
  silence and from the next reply's tone).

``TumblingDetector`` is FastRTC's ``determine_pause`` on our Silero model: 0.6 s
tumbling chunks, the VAD state reset for every chunk, a chunk is speech when
Silero's ``get_speech_timestamps`` (FastRTC's defaults) would keep a segment in
it, and the turn ends on the first chunk without speech after speech started.
It emits no ``SpeechStarted``, so a reply is interrupted only when the new
utterance has ended (FastRTC's barge-in, fastrtc-notes.md section 2.4).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rtcstream import ReplyOnPause
from rtcstream.handlers.turn_taking import TurnEnded
from rtcstream.handlers.vad import SileroVAD, VoiceActivityDetector

VOICED_DB = -45.0  # a 5 ms block above this RMS (dBFS) is voice
TONE_SECONDS = 8.0
TONE_RATE = 24000


def first_voiced(samples: np.ndarray, rate: int, threshold_db: float = VOICED_DB) -> int:
    """Return the first sample of the first 5 ms block above ``threshold_db`` dBFS RMS (len if none)."""
    block = rate // 200
    flat = samples.reshape(-1).astype(np.float64)
    usable = len(flat) // block * block
    if not usable:
        return len(flat)
    rms = np.sqrt((flat[:usable].reshape(-1, block) ** 2).mean(axis=1)) / 32768
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    return int(loud[0]) * block if len(loud) else len(flat)


def echo_reply(audio: tuple[int, np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """Play the utterance back from its first voiced block (the pre-roll's silence is skipped)."""
    rate, samples = audio
    step = rate // 10
    for start in range(first_voiced(samples, rate), samples.shape[1], step):
        yield rate, samples[:, start : start + step]


def tone_reply(audio: tuple[int, np.ndarray], frequency: float = 440.0) -> Iterator[tuple[int, np.ndarray]]:
    """Play ``TONE_SECONDS`` of a sine at ``frequency`` (the page's input), half scale, in 100 ms chunks."""
    step = TONE_RATE // 10
    phase = 2 * np.pi * float(frequency) / TONE_RATE
    for start in range(0, int(TONE_SECONDS * TONE_RATE), step):
        t = np.arange(start, start + step)
        yield TONE_RATE, (np.sin(phase * t) * 0.5 * 32767).astype(np.int16).reshape(1, -1)


class TumblingDetector:
    """FastRTC's pause detection (0.6 s tumbling chunks) behind ``TurnDetector``'s interface.

    ``feed`` buffers input until a chunk is complete, then resamples it to
    16 kHz with librosa (as FastRTC does), resets the VAD and scores every
    512-sample window (FastRTC scores 1024-sample windows with Silero v4: the
    cost per second is comparable). With FastRTC's ``SileroVadOptions``
    defaults (250 ms minimum speech, 2 s minimum silence, 400 ms padding) a
    segment is kept only when its first window at ``threshold`` starts at least
    250 ms before the chunk ends, and the padding stretches it to the whole
    chunk, so the speech duration is 0 or 0.6 s: "speech" is that test.
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        vad: VoiceActivityDetector | None = None,
        chunk_s: float = 0.6,
        started_talking_threshold: float = 0.2,
        speech_threshold: float = 0.1,
        threshold: float = 0.5,
        min_speech_s: float = 0.25,
    ) -> None:
        import librosa  # FastRTC's resampler; imported here so the module stays light

        self._resample = librosa.resample
        self.sample_rate = sample_rate
        self.vad = vad if vad is not None else SileroVAD()
        self.chunk_s = chunk_s
        self.started_talking_threshold = started_talking_threshold
        self.speech_threshold = speech_threshold
        self.threshold = threshold
        self.min_speech_s = min_speech_s
        self._chunk = round(chunk_s * sample_rate)
        self.last_probability = 0.0
        self._position = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._stream: list[np.ndarray] = []
        self._stream_start = self._position
        self._started = False

    @property
    def speaking(self) -> bool:
        return self._started

    @property
    def position(self) -> int:
        return self._position

    def reset(self) -> None:
        self.vad.reset()
        self._reset_state()

    def discard(self) -> None:
        self._reset_state()

    def flush(self) -> TurnEnded:
        audio = np.concatenate(self._stream) if self._stream else np.zeros(0, dtype=np.int16)
        turn = TurnEnded(audio.reshape(1, -1), self.sample_rate, "forced", self._stream_start)
        self._reset_state()
        return turn

    def feed(self, samples: np.ndarray) -> list[TurnEnded]:
        mono = np.asarray(samples).reshape(-1)
        if mono.dtype != np.int16:
            mono = np.clip(np.round(mono.astype(np.float32) * 32768), -32768, 32767).astype(np.int16)
        self._buffer.append(mono)
        self._buffered += len(mono)
        self._position += len(mono)
        if self._buffered < self._chunk:
            return []
        chunk = np.concatenate(self._buffer)  # FastRTC evaluates the whole buffer, then drops it
        self._buffer, self._buffered = [], 0
        duration = self.speech_duration(chunk)
        if duration > self.started_talking_threshold and not self._started:
            self._started = True
            self._stream_start = self._position - len(chunk)
        if self._started:
            self._stream.append(chunk)
            if duration < self.speech_threshold:
                turn = TurnEnded(
                    np.concatenate(self._stream).reshape(1, -1), self.sample_rate, "pause", self._stream_start
                )
                self._reset_state()
                return [turn]
        return []

    def speech_duration(self, chunk: np.ndarray) -> float:
        """FastRTC's ``dur_vad`` for one chunk: 0.0, or the chunk's length when a segment is kept."""
        audio = self._resample(chunk.astype(np.float32) / 32768, orig_sr=self.sample_rate, target_sr=16000)
        self.vad.reset()  # FastRTC resets the model state for every chunk
        window = self.vad.window_samples
        padded = np.zeros(-(-len(audio) // window) * window, dtype=np.float32)
        padded[: len(audio)] = audio
        latest_start = len(audio) - self.min_speech_s * 16000  # a kept segment starts before this
        kept = False
        for start in range(0, len(padded), window):
            probability = self.vad.process(padded[start : start + window])
            self.last_probability = probability
            if probability >= self.threshold and start < latest_start:
                kept = True  # every window is scored, as get_speech_timestamps does
        return len(chunk) / self.sample_rate if kept else 0.0


class FastRTCReplyOnPause(ReplyOnPause):
    """``ReplyOnPause`` with FastRTC's turn detection (``TumblingDetector``) instead of ``TurnDetector``.

    It overrides ``ReplyOnPause.new_detector``, the turn-detection hook.
    """

    def new_detector(self, sample_rate: int) -> TumblingDetector:  # type: ignore[override]
        detector = TumblingDetector(sample_rate, self.model.copy() if self.model is not None else None)
        detector.speech_duration(np.zeros(detector._chunk, dtype=np.int16))  # warm librosa off the loop
        detector.reset()
        return detector


echo = ReplyOnPause(echo_reply)
talk = ReplyOnPause(tone_reply)
echo_fastrtc = FastRTCReplyOnPause(echo_reply)
talk_fastrtc = FastRTCReplyOnPause(tone_reply)
