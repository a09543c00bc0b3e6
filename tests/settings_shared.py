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
    # A worker killed with SIGKILL stops counting after this long.
    "SESSION_EXPIRY": 3.0,
    "MAX_SESSIONS_PER_CLIENT": int(os.environ.get("RTCSTREAM_TEST_CAP", "4")),
}
