"""Audio and video together: a video call with an answerer that needs no model."""

from __future__ import annotations

import threading
import time

import numpy as np

from rtcstream import AudioVideoStreamHandler

RATE = 48000
VOICE_DB = -45.0  # a 20 ms frame louder than this (dBFS) is voice
MIN_VOICE_S = 0.3  # voice needed before a pause counts as the end of an utterance
PAUSE_S = 0.6  # quiet that ends an utterance
MAX_REPLY_S = 2.0
BORDER = 8  # pixels
# Border colours, BGR: waiting, hearing you, answering.
IDLE, HEARING, ANSWERING = (120, 120, 120), (80, 200, 40), (255, 90, 0)


def level_db(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) / 32768
    return 20 * np.log10(max(rms, 1e-6))


def answer_tone(seconds: float) -> np.ndarray:
    """Two notes, a fifth apart, with soft edges: ``seconds`` long, (1, n) int16 at 48 kHz."""
    half = int(RATE * seconds / 2)
    t = np.arange(half) / RATE
    notes = np.concatenate([np.sin(2 * np.pi * 587.3 * t), np.sin(2 * np.pi * 880.0 * t)])
    fade = np.minimum(1.0, np.minimum(np.arange(notes.size), notes.size - np.arange(notes.size)) / (0.02 * RATE))
    return (notes * fade * 0.4 * 32767).astype(np.int16).reshape(1, -1)


class ToneCall(AudioVideoStreamHandler):
    """Your camera comes back with your voice level drawn on it; when you stop talking, a tone answers.

    ``receive`` measures each 20 ms of your voice. After at least 0.3 s of voice
    and then 0.6 s of quiet, ``emit`` answers with two notes as long as you spoke
    (2 s at most). ``video_emit`` draws on your newest camera frame: a level bar
    on the left, a border (grey waiting, green while it hears you, blue while it
    answers) and, while it answers, a bar along the top that follows the tone
    as it plays. The four methods run in worker threads at the same time: what
    they share is guarded by a lock.
    """

    def __init__(self) -> None:
        super().__init__(output_sample_rate=RATE, fps=30)
        self.lock = threading.Lock()
        self.level = -90.0  # dBFS of the last 20 ms
        self.voice_s = 0.0  # voice heard in this utterance
        self.quiet_s = 0.0  # quiet since the last voice
        self.pending: np.ndarray | None = None  # an answer to send
        self.answer: tuple[float, float] | None = None  # (monotonic start, seconds) of the answer playing
        self.frame: np.ndarray | None = None

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        rate, samples = frame
        seconds = samples.shape[-1] / rate
        db = level_db(samples)
        with self.lock:
            self.level = db
            if db > VOICE_DB:
                self.voice_s += seconds
                self.quiet_s = 0.0
            elif self.voice_s:
                self.quiet_s += seconds
                if self.quiet_s >= PAUSE_S:
                    if self.voice_s >= MIN_VOICE_S and not self.answering():
                        self.pending = answer_tone(min(self.voice_s, MAX_REPLY_S))
                    self.voice_s = self.quiet_s = 0.0

    def answering(self) -> bool:
        return self.answer is not None and time.monotonic() < self.answer[0] + self.answer[1]

    def emit(self) -> tuple[int, np.ndarray] | None:
        with self.lock:
            tone, self.pending = self.pending, None
            if tone is None:
                return None
            # The whole answer at once: it plays from now, so the video can follow it.
            self.answer = (time.monotonic(), tone.shape[-1] / RATE)
        return RATE, tone

    def video_receive(self, frame: np.ndarray) -> None:
        with self.lock:
            self.frame = frame

    def video_emit(self) -> np.ndarray | None:
        with self.lock:
            frame, self.frame = self.frame, None
            level, hearing, answer = self.level, self.voice_s > 0, self.answer
        if frame is None:
            return None  # no new camera frame: nothing is sent, the page keeps the last one
        out = frame.copy()
        height, width = out.shape[:2]
        playing = answer is not None and time.monotonic() < answer[0] + answer[1]
        color = ANSWERING if playing else HEARING if hearing else IDLE
        out[:BORDER], out[-BORDER:], out[:, :BORDER], out[:, -BORDER:] = color, color, color, color
        # The voice level, -60..0 dBFS, as a bar inside the left border.
        filled = int(np.clip((level + 60) / 60, 0, 1) * (height - 2 * BORDER))
        if filled:
            out[height - BORDER - filled : height - BORDER, BORDER : 3 * BORDER] = HEARING
        if playing and answer is not None:
            done = (time.monotonic() - answer[0]) / answer[1]
            out[BORDER : 3 * BORDER, BORDER : BORDER + int(done * (width - 2 * BORDER))] = ANSWERING
        return out

    def copy(self) -> ToneCall:
        return ToneCall()
