"""Semantic end-of-turn models: given the audio of a turn so far, how likely is it that the speaker has finished?

``ReplyOnPause(turn_model=...)`` asks one when the VAD has heard a short
silence (``TurnOptions.turn_model_pause_s``): complete, and the turn ends at
once; incomplete, and it ends when the silence reaches
``TurnOptions.turn_model_max_pause_s`` (or the speaker goes on). ``TURN_MODELS``
names the built-in choices an endpoint may pick; any object with the
``TurnModel`` protocol plugs in the same way.

``SmartTurn`` runs Smart Turn v3.2 (pipecat-ai/smart-turn: a Whisper-tiny
encoder and a classifier, ~8 M parameters, BSD-2-Clause) with onnxruntime.
The ONNX file is the ``smart-turn-v3.2-cpu.onnx`` that the ``pipecat-ai``
1.14.0 wheel ships, installed without its dependencies (``pip install
--no-deps pipecat-ai==1.14.0``): only the data file is read, and pipecat is
never imported (its ``__init__`` imports loguru and more), so the file is
found through the top-level package's import spec, which locates
``pipecat/`` without running it. There is no ``rtcstream[turn]`` extra: an
extra cannot say ``--no-deps``, and pipecat-ai's dependencies (numba, openai,
aiohttp, ...; ``soxr~=1.0.0``, against the ``soxr`` 1.1 rtcstream is tested
with) would come along for one file.

The input is what pipecat 1.14.0 (``LocalSmartTurnAnalyzerV3``) and the
Smart Turn repository give the model: 16 kHz mono float audio, the last 8 s
of it, zero-padded *at the front* to exactly 8 s (128000 samples); the whole
8 s buffer (padding included) is normalised to zero mean and unit variance;
then Whisper's log-mel features (``transformers.WhisperFeatureExtractor``
with ``chunk_length=8``: 400-sample periodic Hann window, hop 160, centred
reflect padding, power spectrum, 80 Slaney mel filters over 0-8 kHz, log10
floored at 1e-10, last frame dropped, clamped to max - 8, then ``(x + 4) / 4``),
shape (1, 80, 800). The model returns the probability that the turn is
complete (a sigmoid, despite the output's name ``logits``); pipecat calls a
turn complete above 0.5. ``log_mel_features`` is a numpy-only copy of that
extractor (no transformers, no torch); ``tests/test_turn_model.py`` checks it
against values computed with transformers.

A call costs about 50 ms of CPU on one thread whatever the audio's length
(it is always padded to 8 s), once per pause, never per frame; the figures
are in docs/performance.md. The mel filters are applied as sparse runs, not
by a matrix product: through OpenBLAS, its spinning threads took the model's
core and nearly doubled a call's cost.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

MODEL_PACKAGE = "pipecat"  # the import name; the distribution is pipecat-ai
MODEL_PATH_IN_PACKAGE = ("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")
INSTALL_HINT = "pip install --no-deps pipecat-ai==1.14.0"

SAMPLE_RATE = 16000
MAX_SECONDS = 8
N_FFT = 400
HOP = 160
N_MELS = 80
FRAMES = MAX_SECONDS * SAMPLE_RATE // HOP  # 800

# The built-in models an endpoint may choose (kinds' ``turn_model`` option); "none" is the VAD alone.
TURN_MODELS = ("none", "smart-turn")
# Modules a choice needs installed (the registry and the admin check them; install_hints says how).
NEEDS = {"smart-turn": (MODEL_PACKAGE,)}


class TurnModelUnavailable(RuntimeError):
    """The end-of-turn model cannot be loaded: the package that ships it (or onnxruntime) is missing."""


@runtime_checkable
class TurnModel(Protocol):
    """What the turn detector needs from an end-of-turn model; implement it to plug in another one.

    ``predict`` must be safe to call from several threads at once (one model
    object may serve every session of a process).
    """

    sample_rate: int  # the rate ``predict`` expects, e.g. 16000
    max_seconds: float  # how much audio the model looks at: only the last this-many seconds count

    def predict(self, audio: np.ndarray) -> float:
        """Return the probability (0..1) that the turn in ``audio`` (float32 mono in [-1, 1]) is complete."""


def _slaney_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    log_step = 27.0 / np.log(6.4)
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) * log_step, 3.0 * hz / 200.0)


def _slaney_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), 200.0 * mel / 3.0)


def _mel_filters() -> np.ndarray:
    """Return Whisper's (80, 201) Slaney-normalised triangular filters over 0-8 kHz."""
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    rising = -slopes[:, :-2] / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= 2.0 / (edges[2:] - edges[:-2])
    return filters.T


_FILTERS = _mel_filters()
# The filters as sparse (mel, bin, weight) runs, one run per mel: a matrix product would go through
# OpenBLAS, whose idle threads then spin on the other core and slowed the model's run that follows by half.
_MEL_INDEX, _BIN_INDEX = np.nonzero(_FILTERS)
_WEIGHTS = _FILTERS[_MEL_INDEX, _BIN_INDEX]
_RUNS = np.searchsorted(_MEL_INDEX, np.arange(N_MELS))
assert len(np.unique(_MEL_INDEX)) == N_MELS  # no empty filter, or reduceat would mis-sum
_WINDOW = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch.hann_window


def fit_window(audio: np.ndarray, seconds: float = MAX_SECONDS, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return the last ``seconds`` of ``audio`` as float32, zero-padded at the front to exactly that length."""
    flat = np.asarray(audio, dtype=np.float32).reshape(-1)
    size = int(seconds * rate)
    if len(flat) >= size:
        return flat[len(flat) - size :]
    return np.concatenate([np.zeros(size - len(flat), dtype=np.float32), flat])


def log_mel_features(audio: np.ndarray) -> np.ndarray:
    """Return Smart Turn's (80, 800) float32 log-mel features of 16 kHz audio (the last 8 s, padded at the front)."""
    x = fit_window(audio)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # float32, over the padded buffer, as transformers does
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2  # (801, 201)
    mel = np.add.reduceat(power[:, _BIN_INDEX] * _WEIGHTS, _RUNS, axis=1).T  # (80, 801), no BLAS
    log_spec = np.log10(np.maximum(mel, 1e-10))[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def find_model() -> Path:
    """Return the path of the Smart Turn v3.2 ONNX file shipped by the installed pipecat-ai, without importing it."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)  # a top-level spec: pipecat/__init__.py is not run
    except (ImportError, ValueError):
        spec = None
    for base in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(base).joinpath(*MODEL_PATH_IN_PACKAGE)
        if candidate.is_file():
            return candidate
    raise TurnModelUnavailable(
        f"The Smart Turn v3.2 model is not installed: `{INSTALL_HINT}` (the wheel ships the ONNX file; "
        'rtcstream runs it with onnxruntime and never imports pipecat), or use turn_model="none" (the VAD alone) '
        "or your own TurnModel."
    )


def load_session(path: str | Path | None = None) -> Any:
    """Return the process's single-threaded onnxruntime session for ``path`` (Smart Turn by default), loading it once."""
    from rtcstream.handlers.vad import VADUnavailable, open_session
    from rtcstream.runtime import get_runtime

    key = str(path or find_model())
    try:
        return get_runtime().models.get(f"onnx:{key}", lambda: open_session(key))
    except VADUnavailable as exc:
        raise TurnModelUnavailable(str(exc)) from exc


class SmartTurn:
    """Smart Turn v3.2: ``predict`` the probability that a 16 kHz turn is complete. Thread-safe."""

    sample_rate = SAMPLE_RATE
    max_seconds = float(MAX_SECONDS)
    threshold = 0.5  # pipecat's: complete above this

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.model_path = model_path
        self._session = load_session(model_path)
        self.predict(np.zeros(SAMPLE_RATE, dtype=np.float32))  # onnxruntime's first run is the slowest: not a user's

    def predict(self, audio: np.ndarray) -> float:
        """Return the probability that the turn ending with ``audio`` (float32 mono, 16 kHz) is complete."""
        features = log_mel_features(audio)[None]
        (probability,) = self._session.run(None, {"input_features": features})
        return float(probability.reshape(-1)[0])

    def is_complete(self, audio: np.ndarray) -> bool:
        """Return whether ``predict(audio)`` is above ``threshold``."""
        return self.predict(audio) > self.threshold


def resolve(choice: str | TurnModel | None) -> TurnModel | None:
    """Return the model ``choice`` names (one of ``TURN_MODELS``; "none" or None: no model), or ``choice`` itself.

    A built-in model is loaded once per process and shared by every session.
    """
    from rtcstream.runtime import get_runtime

    if choice is None or choice == "none":
        return None
    if choice == "smart-turn":
        return get_runtime().models.get("turn-model:smart-turn", SmartTurn)
    if isinstance(choice, str):
        raise ValueError(f"Unknown turn model {choice!r}; choose one of {', '.join(TURN_MODELS)} or pass a TurnModel.")
    return choice


def to_model_input(audio: np.ndarray, sample_rate: int, model: TurnModel) -> np.ndarray:
    """Return the last ``model.max_seconds`` of int16 ``audio`` as float32 mono at ``model.sample_rate``."""
    import soxr

    flat = np.asarray(audio).reshape(-1)
    flat = flat[max(0, len(flat) - round(model.max_seconds * sample_rate)) :]
    scaled = flat.astype(np.float32) / 32768.0 if flat.dtype == np.int16 else flat.astype(np.float32)
    if sample_rate == model.sample_rate:
        return scaled
    return soxr.resample(scaled, sample_rate, model.sample_rate, quality="HQ").astype(np.float32)
