"""The ICE servers (STUN and TURN) of the server's peer connections."""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy


def ice_configuration(servers: list[dict[str, Any]], policy: str = "all") -> RTCConfiguration:
    """An aiortc configuration from ``iceServers`` dicts; ``policy`` "relay" uses TURN candidates only."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in servers
        ],
        iceTransportPolicy=RTCIceTransportPolicy(policy),
    )
