"""Print the streaming VAD's CPU cost per second of audio, against a FastRTC-style 0.6 s tumbling-chunk detector.

Run: ``python -m bench.vad_cost`` (needs espeak-ng for the speech). Figures, never pass/fail.
"""

from __future__ import annotations

import time

import numpy as np

from rtcstream.handlers.turn_taking import TurnDetector
from rtcstream.handlers.vad import SileroVAD
from tests import speech

RATE = speech.RATE


def audio() -> np.ndarray:
    """Return ~20 s: speech with pauses, silence, hum and noise."""
    parts = [speech.two_utterances(0.8).samples, speech.silence(3), speech.hum(3), speech.white_noise(3)]
    parts += [speech.two_utterances(2.0).samples]
    return np.concatenate(parts)


def streaming(samples: np.ndarray) -> int:
    detector = TurnDetector()
    turns = 0
    for frame in speech.frames(samples):
        turns += sum(1 for event in detector.feed(frame) if not hasattr(event, "onset"))
    return turns


def tumbling(samples: np.ndarray) -> int:
    """FastRTC's path: 0.6 s chunks, librosa resampling per chunk, 1024-sample windows, state reset per chunk."""
    import librosa

    vad = SileroVAD()
    chunk = int(0.6 * RATE)
    speaking, turns = False, 0
    for start in range(0, len(samples) - chunk + 1, chunk):
        piece = samples[start : start + chunk].astype(np.float32) / 32768
        piece = librosa.resample(piece, orig_sr=RATE, target_sr=16000)
        vad.reset()
        windows = [vad.process(piece[i : i + 512]) for i in range(0, len(piece) - 511, 512)]
        # Two 512 windows stand for FastRTC's one 1024 window: the cost is comparable.
        voiced = max(windows) >= 0.5
        if voiced and not speaking:
            speaking = True
        elif speaking and not voiced:
            speaking, turns = False, turns + 1
    return turns


def measure(name: str, fn, samples: np.ndarray) -> float:
    fn(samples[:RATE])  # warm up (librosa's first call compiles)
    cpu = time.process_time()
    turns = fn(samples)
    cpu = time.process_time() - cpu
    per_second = cpu / (len(samples) / RATE) * 1000
    print(f"{name:<28} {per_second:6.2f} ms CPU per s of audio   turns: {turns}")
    return per_second


def main() -> None:
    samples = audio()
    vad = SileroVAD()
    windows = np.random.default_rng(0).standard_normal((500, 512)).astype(np.float32) * 0.01
    for window in windows[:50]:
        vad.process(window)
    start = time.perf_counter()
    for window in windows:
        vad.process(window)
    print(f"Silero window (512 samples)  {(time.perf_counter() - start) / len(windows) * 1e6:6.1f} µs")
    ours = measure("streaming TurnDetector", streaming, samples)
    theirs = measure("0.6 s tumbling (FastRTC)", tumbling, samples)
    print(f"ratio streaming / tumbling   {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
