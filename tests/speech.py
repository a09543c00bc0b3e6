"""Make deterministic audio fixtures: espeak-ng speech, silence, hum and noise, as int16 at 48 kHz.

Speech is synthesised once into ``tests/.fixtures/`` (git-ignored) and reused.
Everything here is a pure function of its arguments, so tests can compute
where the words are (``energy_onset``) instead of hard-coding it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soxr

RATE = 48000
FRAME = RATE // 50  # 20 ms, what the browser sends
FIXTURES = Path(__file__).parent / ".fixtures"

FIRST_SENTENCE = "Please tell me a story about a small robot"
SECOND_SENTENCE = "And make it a happy one"


def require_espeak() -> None:
    """Skip the calling test when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is required under CI=true (apt-get install espeak-ng)", pytrace=False)
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def _read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
        return wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def _write_wav(path: Path, rate: int, samples: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype(np.int16).tobytes())
    tmp.replace(path)  # atomic, so parallel test runs never read half a file


def speech(text: str = FIRST_SENTENCE, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """Return ``text`` spoken by espeak-ng at 48 kHz, trimmed so the first and last samples are voice."""
    require_espeak()
    key = hashlib.sha256(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    cached = FIXTURES / f"speech-{key}.wav"
    if not cached.exists():
        FIXTURES.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            # -z: no trailing sentence pause, so the clip ends with the last word.
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-z", "-w", str(raw), text], check=True)
            rate, samples = _read_wav(raw)
        resampled = soxr.resample(samples.astype(np.float32) / 32768, rate, RATE, quality="HQ")
        clip = np.clip(np.round(resampled * 32768), -32768, 32767).astype(np.int16)
        start, end = _voiced_bounds(clip)
        _write_wav(cached, RATE, clip[start:end])
    return _read_wav(cached)[1].copy()


def _voiced_bounds(samples: np.ndarray, threshold: int = 200) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return int(loud[0]), int(loud[-1]) + 1


def energy_onset(samples: np.ndarray, rate: int = RATE, threshold_db: float = -45.0) -> int:
    """Return the first sample of the first 5 ms block whose RMS exceeds ``threshold_db`` dBFS."""
    block = rate // 200
    flat = samples.reshape(-1).astype(np.float64)
    usable = len(flat) // block * block
    rms = np.sqrt((flat[:usable].reshape(-1, block) ** 2).mean(axis=1)) / 32768
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    if len(loud) == 0:
        raise ValueError("no energy onset: the audio is silent")
    return int(loud[0]) * block


def silence(seconds: float) -> np.ndarray:
    """Return digital silence."""
    return np.zeros(int(round(seconds * RATE)), dtype=np.int16)


def hum(seconds: float, frequency: float = 50.0, level_db: float = -20.0) -> np.ndarray:
    """Return a steady mains hum: ``frequency`` and its first harmonics, at ``level_db`` dBFS peak."""
    t = np.arange(int(round(seconds * RATE))) / RATE
    wave_ = sum(np.sin(2 * np.pi * frequency * k * t) / k for k in (1, 2, 3))
    wave_ = wave_ / np.max(np.abs(wave_)) * 10 ** (level_db / 20)
    return np.round(wave_ * 32767).astype(np.int16)


def white_noise(seconds: float, level_db: float = -30.0, seed: int = 1234) -> np.ndarray:
    """Return Gaussian white noise at ``level_db`` dBFS RMS, the same for the same seed."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(int(round(seconds * RATE))) * 10 ** (level_db / 20)
    return np.clip(np.round(noise * 32767), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class Recording:
    """Audio at 48 kHz and where its utterances start and end (in samples)."""

    samples: np.ndarray
    utterances: tuple[tuple[int, int], ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


def utterance(lead: float = 0.5, tail: float = 1.5, text: str = FIRST_SENTENCE) -> Recording:
    """Return silence, one utterance, then silence."""
    return utterances([text], gaps=[], lead=lead, tail=tail)


def two_utterances(gap: float, lead: float = 0.5, tail: float = 1.5) -> Recording:
    """Return two utterances separated by ``gap`` seconds of silence."""
    return utterances([FIRST_SENTENCE, SECOND_SENTENCE], gaps=[gap], lead=lead, tail=tail)


def utterances(texts: list[str], gaps: list[float], lead: float, tail: float) -> Recording:
    """Return ``texts`` spoken one after another with ``gaps`` of silence, between ``lead`` and ``tail``."""
    assert len(gaps) == len(texts) - 1
    parts = [silence(lead)]
    spans = []
    position = len(parts[0])
    for index, text in enumerate(texts):
        clip = speech(text)
        spans.append((position, position + len(clip)))
        parts.append(clip)
        position += len(clip)
        pause = silence(gaps[index] if index < len(gaps) else tail)
        parts.append(pause)
        position += len(pause)
    return Recording(np.concatenate(parts), tuple(spans))


def frames(samples: np.ndarray, size: int = FRAME) -> Iterator[np.ndarray]:
    """Yield (1, size) int16 frames, the last one padded with silence."""
    flat = samples.reshape(-1)
    for start in range(0, len(flat), size):
        frame = flat[start : start + size]
        if len(frame) < size:
            frame = np.concatenate([frame, np.zeros(size - len(frame), dtype=np.int16)])
        yield frame.reshape(1, size)
