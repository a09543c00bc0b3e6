"""The test settings with a TURN server from the environment (tests/turnserver.py starts one).

RTCSTREAM_TURN_URL and RTCSTREAM_TURN_SECRET name it; RTCSTREAM_ICE_TRANSPORT_POLICY
("relay") makes the browser use it only.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import RTCSTREAM

RTCSTREAM = {
    **RTCSTREAM,
    "TURN": {"urls": [os.environ["RTCSTREAM_TURN_URL"]], "secret": os.environ["RTCSTREAM_TURN_SECRET"], "ttl": 600},
    "ICE_TRANSPORT_POLICY": os.environ.get("RTCSTREAM_ICE_TRANSPORT_POLICY", "all"),
}
