"""The test settings for daphne processes that are meant to refuse or give up: small process
limits (RTCSTREAM_TEST_MAX_SESSIONS / RTCSTREAM_TEST_MAX_SOCKETS), a short connect timeout
(RTCSTREAM_TEST_CONNECT_TIMEOUT), an entry that fails when a socket opens for it, and no
channel layer with RTCSTREAM_TEST_NO_LAYER=1."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM, SILENCED_SYSTEM_CHECKS


def _limit(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {**RTCSTREAM["HANDLERS"], "t-broken": "tests.handlers.no_such_handler"},
    "MAX_SESSIONS": _limit("RTCSTREAM_TEST_MAX_SESSIONS"),
    "MAX_SOCKETS": _limit("RTCSTREAM_TEST_MAX_SOCKETS"),
    "CONNECT_TIMEOUT": float(os.environ.get("RTCSTREAM_TEST_CONNECT_TIMEOUT", "30")),
}
# t-broken is wrong on purpose: the check says so, and the socket that asks for it is refused with 4500.
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "rtcstream.E002"]
if os.environ.get("RTCSTREAM_TEST_NO_LAYER"):
    del CHANNEL_LAYERS  # noqa: F821
    SILENCED_SYSTEM_CHECKS += ["rtcstream.E010"]
