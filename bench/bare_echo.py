"""A bare aiortc echo server: the baseline ``bench/capacity.py`` compares rtcstream with.

No Django, no Channels, no worker pool: one websocket per session carries one
offer ``{"kind": "audio" | "video", "sdp": ...}`` and gets ``{"sdp": ...}``
back. Audio is echoed by sending the received track back (aiortc decodes and
re-encodes it); video goes through the same per-frame function as rtcstream's
``cap-invert`` endpoint (``bench.capacity_media.invert``), called on the event loop as
aiortc's own examples do.

    python bench/bare_echo.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capacity_media import invert  # noqa: E402

logging.getLogger("aioice").setLevel(logging.WARNING)


class FunctionTrack(MediaStreamTrack):
    """Each frame of ``source`` through ``invert``: decode to RGB, call, encode from RGB."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> av.VideoFrame:
        frame = await self.source.recv()
        assert isinstance(frame, av.VideoFrame)
        out = av.VideoFrame.from_ndarray(invert(frame.to_ndarray(format="rgb24")), format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


async def session(socket: Any) -> None:
    pc = RTCPeerConnection()
    try:
        offer = json.loads(await socket.recv())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            pc.addTrack(FunctionTrack(track) if track.kind == "video" else track)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await socket.send(json.dumps({"sdp": pc.localDescription.sdp}))
        await socket.wait_closed()  # the session lasts as long as its socket
    finally:
        await pc.close()


async def main(port: int) -> None:
    from websockets.asyncio.server import serve

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(session, "127.0.0.1", port):
        print(f"bare aiortc echo on ws://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    asyncio.run(main(parser.parse_args().port))
