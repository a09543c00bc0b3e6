"""STUN and TURN servers that gave nothing to a slow ICE gathering: named in a warning, and left out of the
server's next gatherings for a while.

aioice waits up to 5 s for the STUN and TURN servers before a gathering ends, and aiortc answers only then: a
server that does not answer (a firewall that drops the server's UDP, a wrong address) delays every session's
answer by that much, and for nothing, since the gathering's candidates are the same without it. So once a
gathering has waited for a server that gave no candidate, the server's peer connections leave that server out
for ``SKIP_SECONDS`` (the next one in ``ICE_SERVERS``, if any, is used instead); the first gathering after that
tries it again. A server that answers, even with a refusal (a TURN server that rejects the credentials), answers
in milliseconds and is never left out.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from aiortc import RTCConfiguration, RTCIceTransportPolicy
from aiortc.rtcicetransport import connection_kwargs, parse_stun_turn_uri

from rtcstream.operations.throttle import Throttle

logger = logging.getLogger("rtcstream.relay")

# Host candidates take milliseconds: a gathering longer than this waited for a STUN or TURN server.
SLOW_GATHERING = 2.0
# How long the server's gatherings leave out a server that gave nothing to a slow one.
SKIP_SECONDS = 60.0
LOG_EVERY = 300.0  # seconds between two warnings of a slow gathering in one process

# ("stun" or "turn", host, port): the server aiortc asks, whatever the URL's transport and credentials.
Server = tuple[str, str, int]


def server_of(url: str) -> Server | None:
    """The server a STUN or TURN URL names; None for a URL aiortc cannot parse (aiortc says why, later)."""
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError:
        return None
    return ("stun" if parsed["scheme"].startswith("stun") else "turn", parsed["host"], parsed["port"])


def silent_servers(configuration: RTCConfiguration, sdp: str) -> list[Server]:
    """The STUN and TURN servers aiortc used (the first of each) that gave no candidate to ``sdp``."""
    used = connection_kwargs(configuration.iceServers or [])
    relay_only = configuration.iceTransportPolicy == RTCIceTransportPolicy.RELAY  # no other candidate is offered
    silent: list[Server] = []
    if "stun_server" in used and not relay_only and " typ srflx" not in sdp:
        silent.append(("stun", *used["stun_server"]))
    if "turn_server" in used and " typ relay" not in sdp:
        silent.append(("turn", *used["turn_server"]))
    return silent


def describe(server: Server) -> str:
    kind, host, port = server
    if kind == "stun":
        return f"the STUN server {host}:{port} gave no address"
    return f"the TURN server {host}:{port} gave no relay address"


class SilentServers:
    """One process's record of the servers that gave nothing, and until when they are left out."""

    def __init__(self) -> None:
        self._skipped_until: dict[Server, float] = {}
        self.warnings = Throttle(LOG_EVERY)

    def usable(self, configuration: RTCConfiguration, now: float | None = None) -> RTCConfiguration:
        """``configuration`` without the URLs of the servers left out now (a server with none left is dropped)."""
        now = time.monotonic() if now is None else now
        self._skipped_until = {server: until for server, until in self._skipped_until.items() if until > now}
        if not self._skipped_until:
            return configuration
        servers = []
        for server in configuration.iceServers or []:
            urls = [server.urls] if isinstance(server.urls, str) else server.urls
            kept = [url for url in urls if server_of(url) not in self._skipped_until]
            if kept:
                servers.append(dataclasses.replace(server, urls=kept))
        return dataclasses.replace(configuration, iceServers=servers)

    def after_gathering(
        self, seconds: float, configuration: RTCConfiguration, sdp: str, skip: bool, now: float | None = None
    ) -> None:
        """Note a gathering of ``seconds`` with ``configuration`` that gave ``sdp``: a slow one's silent servers
        are left out for ``SKIP_SECONDS`` if ``skip``, and warned of (at most once per ``LOG_EVERY``)."""
        if seconds < SLOW_GATHERING:
            return
        silent = silent_servers(configuration, sdp)
        if skip:
            until = (time.monotonic() if now is None else now) + SKIP_SECONDS
            self._skipped_until.update(dict.fromkeys(silent, until))
        if not self.warnings.ready(now):
            return
        logger.warning(
            "ICE gathering took %.1f s (%s): the session's answer waited that long.%s Check that this machine "
            "reaches its ICE servers over UDP and that they are the right ones; a server with a public address "
            "needs no STUN server.",
            seconds,
            " and ".join(map(describe, silent)) or "its STUN or TURN server was slow to answer",
            f" The next {SKIP_SECONDS:g} s of sessions leave it out." if skip and silent else "",
        )


# The process's record (module-level: the Python client, with no Django settings, gathers too).
process_servers = SilentServers()
