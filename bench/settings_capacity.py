"""Settings for ``bench/capacity.py``: the test settings, two endpoints, and no per-client cap (one load generator)."""

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM

RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {
        **RTCSTREAM["HANDLERS"],
        "cap-echo": "tests.handlers.EchoHandler",
        "cap-invert": "bench.capacity_media.invert",
    },
    "DEFAULT_CONCURRENCY_LIMIT": None,
    "MAX_SOCKETS_PER_CLIENT": 10_000,
}
