"""Settings for the browser bench's daphne: the test settings, with the bench's options from the environment.

- ``BENCH_JITTER_FRAMES``: ``RTCSTREAM["AUDIO_JITTER_FRAMES"]`` (unset keeps the default).
- ``BENCH_AUDIO_DTX``: ``RTCSTREAM["AUDIO_DTX"]``, ``1`` or ``0`` (unset keeps the default).
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM

RTCSTREAM = {**RTCSTREAM, "MAX_SOCKETS_PER_CLIENT": 16}
if os.environ.get("BENCH_JITTER_FRAMES"):
    RTCSTREAM["AUDIO_JITTER_FRAMES"] = int(os.environ["BENCH_JITTER_FRAMES"])
if os.environ.get("BENCH_AUDIO_DTX"):
    RTCSTREAM["AUDIO_DTX"] = os.environ["BENCH_AUDIO_DTX"] == "1"
