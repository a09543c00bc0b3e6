"""Every audio resampler rtcstream makes runs in its caller's thread (rtcstream/media/resampler.py says why)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from rtcstream.media.resampler import audio_resampler

# In a fresh interpreter (no pool, no other test's threads), with the cyclic collector off as a server's
# mostly is: twenty resamplers used and dropped, then the process's threads counted, from the kernel's view.
COUNT_THREADS = """
import gc, os
import av, numpy as np
from rtcstream.media.resampler import audio_resampler
gc.disable()
frame = av.AudioFrame.from_ndarray(np.zeros((1, 1920), dtype=np.int16), format="s16", layout="stereo")
frame.sample_rate = 48000
before = len(os.listdir("/proc/self/task"))
for _ in range(20):
    resampler = audio_resampler("s16", "mono", 16000)
    resampler.resample(frame)
print(before, len(os.listdir("/proc/self/task")))
"""


def test_used_and_dropped_resamplers_leave_no_threads() -> None:
    result = subprocess.run([sys.executable, "-c", COUNT_THREADS], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split())
    assert after == before  # FFmpeg's default: two threads a graph, alive until the collector runs (PyAV 18.1.1)


def test_it_resamples() -> None:
    import av

    tone = (np.sin(2 * np.pi * 440 * np.arange(4800) / 48000) * 8000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = 48000
    resampler = audio_resampler("s16", "mono", 16000)
    out = np.concatenate([f.to_ndarray()[0] for f in [*resampler.resample(frame), *resampler.resample(None)]])
    assert abs(len(out) - 1600) <= 32 and out.dtype == np.int16
    assert 0.5 < np.sqrt(np.mean(out[100:-100].astype(float) ** 2)) / np.sqrt(np.mean(tone.astype(float) ** 2)) < 1.5
