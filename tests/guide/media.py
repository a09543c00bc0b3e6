"""Media the guide's tests feed in: WAV files for the fake microphone and the server, and a clip."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, rate: int, samples: np.ndarray) -> Path:
    """Write mono int16 ``samples`` as a WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """Read a mono int16 WAV file."""
    with wave.open(str(path), "rb") as wav:
        return wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


def beeps(path: Path, freq: float, on: float = 0.3, off: float = 0.2, count: int = 20, rate: int = 48000) -> Path:
    """``count`` beeps of ``freq`` Hz, then ``off`` s more of silence (a steady tone would be taken
    for noise by the browser's noise suppression)."""
    beep = np.concatenate([tone(freq, on, rate), np.zeros(int(off * rate), np.int16)])
    return write_wav(path, rate, np.concatenate([np.tile(beep, count), np.zeros(int(off * rate), np.int16)]))


def concatenate(path: Path, *parts: Path) -> Path:
    """Join WAV files of one sample rate."""
    rates, samples = zip(*(read_wav(part) for part in parts), strict=True)
    if len(set(rates)) != 1:
        raise ValueError(f"the parts have different sample rates: {rates}")
    return write_wav(path, rates[0], np.concatenate(samples))


def speech(path: Path, text: str, pad_before: float, pad_after: float) -> Path:
    """A 48 kHz mono WAV of ``text`` spoken by espeak-ng, with silence around it."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise FileNotFoundError("espeak-ng and sox")
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(path), "pad", str(pad_before), str(pad_after)],
        check=True,
    )
    return path


def red_clip(path: Path, seconds: float = 6.0, fps: int = 30, size: tuple[int, int] = (320, 240)) -> Path:
    """A clip of pure red frames (BGR (0, 0, 255)): red shown blue means the channels were swapped."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    frame[..., 2] = 255
    for _ in range(int(seconds * fps)):
        writer.write(frame)
    writer.release()
    return path
