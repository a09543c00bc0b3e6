"""Settings for ``bench/turn_latency.py``: the test settings plus the bench handlers (``bench/handlers.py``)."""

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM

RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {
        **RTCSTREAM["HANDLERS"],
        "bench-echo": "bench.handlers.echo",
        "bench-talk": "bench.handlers.talk",
        "bench-echo-fastrtc": "bench.handlers.echo_fastrtc",
        "bench-talk-fastrtc": "bench.handlers.talk_fastrtc",
    },
    "DEFAULT_CONCURRENCY_LIMIT": None,
    "MAX_SOCKETS_PER_CLIENT": 16,
}
