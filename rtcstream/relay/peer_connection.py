"""aiortc's peer connection, with an ICE gathering that is never cut short.

aioice 0.13 binds one UDP socket per host address, one address after the
other, and keeps them only once all are bound: a gathering cancelled between
two binds leaves the sockets bound so far open for the life of the process (on
a host with an IPv4 and an IPv6 address, a visitor who vanishes mid-offer now
and then leaves one behind). Its STUN and TURN queries, run as tasks of their
own, outlive a cancelled gathering too. So a cancelled ``setLocalDescription``
leaves its gathering running, and ``close`` waits for it before closing the
transports, whose sockets then close with them.

aioice waits up to 5 s for the STUN and TURN servers before a gathering ends,
and aiortc answers only then: a server that does not answer (a firewall that
drops the server's UDP, a wrong address) delays every session by that much.
Such a gathering is logged, with the server that gave nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiortc import RTCConfiguration, RTCIceTransportPolicy, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcicetransport import connection_kwargs

from rtcstream.operations.throttle import Throttle

logger = logging.getLogger("rtcstream.relay")

# The longest ``close`` waits for a gathering: aioice gives STUN and TURN 5 s, host addresses take milliseconds.
GATHER_DEADLINE = 10.0
# Host candidates take milliseconds: a gathering longer than this waited for a STUN or TURN server.
SLOW_GATHERING = 2.0
SLOW_GATHERING_LOG_EVERY = 300.0  # seconds between two such warnings in one process


# One process's slow-gathering warnings (module-level: the Python client, with no Django settings, gathers too).
slow_gathering_warnings = Throttle(SLOW_GATHERING_LOG_EVERY)


def report_gathering(seconds: float, configuration: RTCConfiguration, sdp: str) -> None:
    """Warn of a gathering that waited for an ICE server that gave no candidate (at most once per interval)."""
    if seconds < SLOW_GATHERING or not slow_gathering_warnings.ready():
        return
    logger.warning(
        "ICE gathering took %.1f s (%s): each session's answer waits that long. Check that this machine "
        "reaches its ICE servers over UDP and that they are the right ones; a server with a public address "
        "needs no STUN server.",
        seconds,
        " and ".join(silent_servers(configuration, sdp)) or "its STUN or TURN server was slow to answer",
    )


def silent_servers(configuration: RTCConfiguration, sdp: str) -> list[str]:
    """The STUN and TURN servers aiortc used (the first of each) that gave no candidate to ``sdp``."""
    used = connection_kwargs(configuration.iceServers or [])
    relay_only = configuration.iceTransportPolicy == RTCIceTransportPolicy.RELAY  # no other candidate is offered
    silent = []
    if "stun_server" in used and not relay_only and " typ srflx" not in sdp:
        host, port = used["stun_server"]
        silent.append(f"the STUN server {host}:{port} gave no address")
    if "turn_server" in used and " typ relay" not in sdp:
        host, port = used["turn_server"]
        silent.append(f"the TURN server {host}:{port} gave no relay address")
    return silent


class PeerConnection(RTCPeerConnection):
    """An ``RTCPeerConnection`` whose ``setLocalDescription`` may be cancelled without leaking a socket."""

    def __init__(self, configuration: RTCConfiguration | None = None) -> None:
        super().__init__(configuration)
        self._configuration = configuration or RTCConfiguration()
        self._gathering: asyncio.Task[None] | None = None

    async def setLocalDescription(self, sessionDescription: RTCSessionDescription | None = None) -> None:
        """aiortc's, run as a task a cancellation does not reach: the caller stops waiting, the gathering goes on."""
        self._gathering = gathering = asyncio.ensure_future(super().setLocalDescription(sessionDescription))
        gathering.set_name("rtcstream:ice-gathering")
        started = time.monotonic()
        await asyncio.shield(gathering)
        if self.localDescription is not None:
            report_gathering(time.monotonic() - started, self._configuration, self.localDescription.sdp)

    async def close(self) -> None:
        """Wait for a gathering still running (``GATHER_DEADLINE`` at most), then close as aiortc does."""
        gathering, self._gathering = self._gathering, None
        if gathering is not None and not gathering.done():
            done, _ = await asyncio.wait([gathering], timeout=GATHER_DEADLINE)
            if not done:
                logger.warning("ICE gathering still running after %.0f s; cancelled", GATHER_DEADLINE)
                gathering.cancel()
                await asyncio.wait([gathering])
        if gathering is not None and not gathering.cancelled():
            gathering.exception()  # retrieved: whoever set the description heard it, or stopped listening
        await super().close()
