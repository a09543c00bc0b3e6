"""Settings for the workers of tests/test_shared_engines.py: the test settings on the
PostgreSQL and Redis of DATABASE_URL and REDIS_URL, with short expiry and a small cap."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM

RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {
        **RTCSTREAM["HANDLERS"],
        "t-echo-three": {"handler": "tests.handlers.EchoHandler", "concurrency_limit": 3},
    },
    # A worker killed with SIGKILL stops counting after this long. Short only for the
    # test of that: on a loaded machine a live session's heartbeat can be seconds late.
    "SESSION_EXPIRY": float(os.environ.get("RTCSTREAM_TEST_EXPIRY", "20")),
    "MAX_SOCKETS_PER_CLIENT": int(os.environ.get("RTCSTREAM_TEST_CAP", "4")),
}
