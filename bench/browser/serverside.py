"""Bench-only hooks installed by the bench's two server scripts (rtcstream's and FastRTC's).

Both servers get the same two, from environment variables:

- ``BENCH_RELEASE_LOG``: a file that receives one line ``time level_db`` for
  every output audio frame above -50 dBFS at the moment the server's output
  track hands it to aiortc's sender (FastRTC: ``recv`` returns; rtcstream:
  ``next_frame`` returns, just before ``recv`` encodes it): when the server
  releases reply audio, on the wall clock the page uses too.
- ``BENCH_REPLY_LOG``: a file that receives one line ``time leading_s`` each
  time the echo function is called (``log_replies``): ``leading_s`` is the
  silence before the first voiced 5 ms block of the utterance it echoes (the
  pre-roll, and whatever silence the turn detector kept), which the page hears
  before the voice;
- ``BENCH_MODEL_LOG`` (rtcstream's server): a file that receives one line
  ``time cpu_s`` per turn-model call (``log_calls``): the CPU time of the
  thread that ran it;
- ``BENCH_IMPAIR=1``: user-space network impairment on the server's ICE
  transport (the kernel has no netem): every RTP/RTCP datagram, in and out, is
  dropped with probability ``BENCH_LOSS`` (0.02) or else delayed by a uniform
  ``BENCH_DELAY_MS`` ± ``BENCH_JITTER_MS`` (30 ± 20 ms), which reorders
  packets sent less than 40 ms apart. STUN and DTLS pass untouched, so the
  connection is set up as on a clean path.

It also gives the other servers the demo's own echo (``demo_echo``), compiled
from ``rtcproject/demos/audio.py`` alone: that module imports rtcstream, which
their venvs do not have.

Only the bench scripts import this module; it patches aiortc/aioice classes of
the process it runs in and nothing else.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

QUIET_DB = -50.0


def frame_level_db(frame: Any) -> float:
    """RMS of an av.AudioFrame in dBFS (int16 or float formats)."""
    samples = frame.to_ndarray()
    if samples.dtype == np.int16:
        values = samples.astype(np.float64) / 32768
    else:
        values = samples.astype(np.float64)
    rms = math.sqrt(float((values**2).mean())) if values.size else 0.0
    return 20 * math.log10(max(rms, 1e-6))


def log_releases(track_class: type, method: str, path: str) -> None:
    """Wrap ``track_class.<method>``, the coroutine that gives the frames the track sends, so each
    loud frame is logged to ``path`` with the wall time."""
    original = getattr(track_class, method)
    log = open(path, "a", buffering=1)  # noqa: SIM115  # lives as long as the server process

    @functools.wraps(original)
    async def wrapped(self: Any) -> Any:
        frame = await original(self)
        level = frame_level_db(frame)
        if level > QUIET_DB:
            log.write(f"{time.time():.4f} {level:.1f}\n")
        return frame

    setattr(track_class, method, wrapped)


def log_calls(owner: type, method: str, path: str) -> None:
    """Wrap ``owner.<method>`` (a sync method run in a worker thread) so each call logs its time and CPU time."""
    original = getattr(owner, method)
    log = open(path, "a", buffering=1)  # noqa: SIM115  # lives as long as the server process

    @functools.wraps(original)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            log.write(f"{time.time():.4f} {time.thread_time() - start:.5f}\n")

    setattr(owner, method, wrapped)


def leading_silence(samples: np.ndarray, rate: int, threshold_db: float = -45.0) -> float:
    """Seconds before the first 5 ms block above ``threshold_db`` dBFS RMS (the whole length if none)."""
    flat = np.asarray(samples).reshape(-1).astype(np.float64)
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        flat = flat / 32768
    block = max(1, rate // 200)
    usable = len(flat) // block * block
    if not usable:
        return len(flat) / rate
    rms = np.sqrt((flat[:usable].reshape(-1, block) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    return (int(loud[0]) * block if len(loud) else len(flat)) / rate


def log_replies(fn: Callable[..., Iterator[Any]], path: str) -> Callable[..., Iterator[Any]]:
    """Wrap a one-argument reply generator so each call logs its time and the utterance's leading silence."""
    log = open(path, "a", buffering=1)  # noqa: SIM115  # lives as long as the server process

    @functools.wraps(fn)
    def reply(audio: tuple[int, np.ndarray]) -> Iterator[Any]:
        rate, samples = audio
        log.write(f"{time.time():.4f} {leading_silence(samples, rate):.4f}\n")
        yield from fn(audio)

    return reply


def _is_media(data: bytes) -> bool:
    """RTP and RTCP (RFC 7983: first byte 128-191); STUN is 0-3, DTLS 20-63."""
    return bool(data) and 128 <= data[0] <= 191


def impair_ice() -> None:
    """Patch aioice's ``StunProtocol`` so media datagrams in and out are lost, delayed and reordered."""
    from aioice.ice import StunProtocol

    loss = float(os.environ.get("BENCH_LOSS", "0.02"))
    delay = float(os.environ.get("BENCH_DELAY_MS", "30")) / 1000
    jitter = float(os.environ.get("BENCH_JITTER_MS", "20")) / 1000
    rng = random.Random(int(os.environ.get("BENCH_SEED", "8")))

    def fate() -> float | None:
        """None to drop the datagram, else how long to hold it."""
        if rng.random() < loss:
            return None
        return max(0.0, delay + rng.uniform(-jitter, jitter))

    received = StunProtocol.datagram_received
    send_data = StunProtocol.send_data

    def datagram_received(self: Any, data: bytes, addr: tuple[Any, ...]) -> None:
        if not _is_media(data):
            return received(self, data, addr)
        hold = fate()
        if hold is not None:
            asyncio.get_running_loop().call_later(hold, received, self, data, addr)
        return None

    async def send(self: Any, data: bytes, addr: tuple[str, int]) -> None:
        if not _is_media(data):
            await send_data(self, data, addr)
            return
        hold = fate()
        if hold is not None:
            asyncio.get_running_loop().call_later(hold, self.transport.sendto, data, addr)

    StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]
    StunProtocol.send_data = send  # type: ignore[method-assign]


def wrap_reply(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """``fn`` wrapped by ``log_replies`` when ``BENCH_REPLY_LOG`` is set, else ``fn``."""
    path = os.environ.get("BENCH_REPLY_LOG")
    return log_replies(fn, path) if path else fn


def install(track_class: type, frames_from: str = "recv") -> None:
    """Install the release log and the impairment, as the environment asks, on this server process.

    ``frames_from``: the method of ``track_class`` that gives each frame it sends (FastRTC's
    ``recv``; rtcstream's ``next_frame``, since its ``recv`` gives encoded packets).
    """
    path = os.environ.get("BENCH_RELEASE_LOG")
    if path:
        log_releases(track_class, frames_from, path)
    if os.environ.get("BENCH_IMPAIR") == "1":
        impair_ice()


def load_function(path: Path, name: str) -> Callable[..., Any]:
    """Compile the top-level function ``name`` from ``path`` alone (it may use ``np`` and typing names)."""
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    module = ast.fix_missing_locations(
        ast.Module(body=[ast.ImportFrom("__future__", [ast.alias("annotations")], 0), node], type_ignores=[])
    )
    namespace: dict[str, Any] = {"np": np, "__name__": "bench_echo"}
    exec(compile(module, str(path), "exec"), namespace)  # noqa: S102  # our own repository's source
    return namespace[name]


def demo_echo() -> Callable[..., Iterator[Any]]:
    """The demo site's ``echo`` (``rtcproject/demos/audio.py``), wrapped by ``wrap_reply``."""
    return wrap_reply(load_function(Path(__file__).resolve().parents[2] / "rtcproject" / "demos" / "audio.py", "echo"))
