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
and aiortc answers only then: ``rtcstream.relay.silent_servers`` names a server
that gave nothing, and the server's own gatherings leave it out for a while.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from rtcstream.relay import silent_servers

logger = logging.getLogger("rtcstream.relay")

# The longest ``close`` waits for a gathering: aioice gives STUN and TURN 5 s, host addresses take milliseconds.
GATHER_DEADLINE = 10.0


class PeerConnection(RTCPeerConnection):
    """An ``RTCPeerConnection`` whose ``setLocalDescription`` may be cancelled without leaking a socket.

    With ``skip_silent``, it leaves out the STUN and TURN servers that gave nothing to a recent slow gathering
    (the server's peer connections; the Python client tries every server it is given).
    """

    def __init__(self, configuration: RTCConfiguration | None = None, *, skip_silent: bool = False) -> None:
        configuration = configuration or RTCConfiguration()
        if skip_silent:
            configuration = silent_servers.process_servers.usable(configuration)
        super().__init__(configuration)
        self._configuration = configuration  # aiortc keeps its own privately
        self._skip_silent = skip_silent
        self._gathering: asyncio.Task[None] | None = None

    async def setLocalDescription(self, sessionDescription: RTCSessionDescription | None = None) -> None:
        """aiortc's, run as a task a cancellation does not reach: the caller stops waiting, the gathering goes on."""
        self._gathering = gathering = asyncio.ensure_future(super().setLocalDescription(sessionDescription))
        gathering.set_name("rtcstream:ice-gathering")
        started = time.monotonic()
        await asyncio.shield(gathering)
        if self.localDescription is not None:
            silent_servers.process_servers.after_gathering(
                time.monotonic() - started, self._configuration, self.localDescription.sdp, skip=self._skip_silent
            )

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
