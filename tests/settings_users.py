"""Settings for the workers of tests/test_users_workers.py: the shared-engines settings (PostgreSQL and
Redis), with a waiting room of two seats, quick account checks, and room for many clients."""

from tests.settings_shared import *  # noqa: F403
from tests.settings_shared import RTCSTREAM

RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {
        **RTCSTREAM["HANDLERS"],
        "t-wait-line": {
            "handler": "tests.handlers.EchoHandler",
            "concurrency_limit": 2,
            "when_full": "wait",
            "queue_length": 25,
            "max_wait": 300,
        },
    },
    # Waiters ask again on their own only every 60 s: a seat freed on the other worker must ring.
    "QUEUE_POLL_INTERVAL": 60.0,
    "ACCOUNT_CHECK_INTERVAL": 1.0,
    # The seated sessions of the waiting-room test never connect media; they must not time out meanwhile.
    "CONNECT_TIMEOUT": 300.0,
}
