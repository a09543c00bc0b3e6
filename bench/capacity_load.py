"""The load generator of ``bench/capacity.py``, in its own process: K sessions, then the frames that came back.

It opens ``--sessions`` audio echo (or 640x480 video) sessions with the Python
client (``rtcstream.client``) against one or more rtcstream servers (sessions
split round-robin), or against ``bench/bare_echo.py`` with plain aiortc, waits
until every session receives media, warms up, and measures a window. It talks
to its parent on stdout, one JSON object a line:
``{"event": "window_start"}``, ``{"event": "window_end"}``, then the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capacity_media import MovingPicture, tone  # noqa: E402
from rtcstream.client import ArrayAudioTrack, ArrayVideoTrack, RtcClient  # noqa: E402
from rtcstream.media.audio import FRAME_SECONDS  # noqa: E402
from rtcstream.media.tracks import DTX_PACKETS_PER_SECOND  # noqa: E402
from rtcstream.session.sdp import asks_for_opus_dtx  # noqa: E402

logging.getLogger("aioice").setLevel(logging.WARNING)
CONNECT_PARALLEL = 4
# "voice": an idle connected ReplyOnPause session (the caller is silent, so the VAD runs and nothing replies;
# what the server sends between replies is counted). Both sides send as browsers would: rtcstream's answer
# asks for Opus DTX (AUDIO_DTX), so the caller (follow_answer), after 200 ms of silence, sends a packet every
# 400 ms, and the server sends its silence as DTX too, two packets every 400 ms (DTX_PACKETS_PER_SECOND). Against the bare
# server, whose answer does not, it is an audio echo of silence at 50 packets a second: the least a connected
# two-way audio session costs aiortc.
AUDIO_FPS = 1 / FRAME_SECONDS  # 20 ms Opus frames
ENDPOINTS = {"audio": "cap-echo", "video": "cap-invert", "voice": "t-reply-echo"}
MEDIA = {"audio": "audio", "video": "video", "voice": "audio"}  # what each kind sends and receives


@dataclass
class Arrivals:
    """When each frame came back (monotonic seconds); nothing else is kept, so the generator stays cheap."""

    times: list[float] = field(default_factory=list)
    dtx: bool = False  # the answer asked for Opus DTX: an idle voice session's server sends DTX


async def count_frames(track: MediaStreamTrack, into: Arrivals) -> None:
    try:
        while True:
            await track.recv()
            into.times.append(time.monotonic())
    except MediaStreamError:
        pass


class CountingClient(RtcClient):
    """The Python client, recording arrival times only (no resampling or RGB conversion)."""

    arrivals = Arrivals()  # replaced per client before it starts

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(count_frames(track, self.arrivals)))


def source(kind: str, fps: float) -> MediaStreamTrack:
    if MEDIA[kind] == "video":
        return ArrayVideoTrack(MovingPicture(), fps=fps)
    return ArrayAudioTrack(tone() if kind == "audio" else np.zeros(48000, np.int16), loop=True)


def follow_answer(track: MediaStreamTrack, answer: str) -> bool:
    """Send as a browser would after ``answer``: with Opus DTX if it asks for it (``usedtx=1``)."""
    dtx = asks_for_opus_dtx(answer)
    if isinstance(track, ArrayAudioTrack):
        track.dtx = dtx
    return dtx


class RtcstreamSession:
    def __init__(self, base: str, kind: str, fps: float) -> None:
        self.base, self.kind, self.fps = base, kind, fps
        self.client: CountingClient | None = None

    async def open(self) -> Arrivals:
        client = cast(CountingClient, await CountingClient.connect(self.base, ENDPOINTS[self.kind]))
        self.client = client
        client.arrivals = Arrivals()
        track = source(self.kind, self.fps)
        if MEDIA[self.kind] == "video":
            await client.start(video=track)
        else:
            await client.start(audio=track)
        assert client.pc is not None  # set by start
        client.arrivals.dtx = follow_answer(track, client.pc.remoteDescription.sdp)
        return client.arrivals

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


class BareSession:
    """The same media against ``bench/bare_echo.py``: one websocket, one offer, one answer."""

    def __init__(self, url: str, kind: str, fps: float) -> None:
        self.url, self.kind, self.fps = url, kind, fps
        self.pc: RTCPeerConnection | None = None
        self.socket: Any = None
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self) -> Arrivals:
        import websockets

        arrivals = Arrivals()
        self.socket = await websockets.connect(self.url)
        self.pc = pc = RTCPeerConnection()
        pc.on("track", lambda track: self.tasks.append(asyncio.ensure_future(count_frames(track, arrivals))))
        track = source(self.kind, self.fps)
        pc.addTransceiver(track, direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        await self.socket.send(json.dumps({"kind": MEDIA[self.kind], "sdp": pc.localDescription.sdp}))
        answer = json.loads(await self.socket.recv())
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        arrivals.dtx = follow_answer(track, answer["sdp"])
        return arrivals

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        if self.socket is not None:
            await self.socket.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def say(**message: Any) -> None:
    print(json.dumps(message), flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> None:
    kinds: dict[str, type[RtcstreamSession | BareSession]] = {"rtcstream": RtcstreamSession, "bare": BareSession}
    sessions = [kinds[args.target](args.urls[i % len(args.urls)], args.kind, args.fps) for i in range(args.sessions)]
    gate = asyncio.Semaphore(CONNECT_PARALLEL)
    errors: list[str] = []

    async def opened(session: Any) -> Arrivals | None:
        async with gate:
            try:
                return await asyncio.wait_for(session.open(), 30)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return None

    try:
        arrivals = [a for a in await asyncio.gather(*(opened(s) for s in sessions)) if a is not None]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(a.times for a in arrivals):
            await asyncio.sleep(0.1)
        await asyncio.sleep(args.warmup)
        start = time.monotonic()
        say(event="window_start")
        await asyncio.sleep(args.window)
        end = time.monotonic()
        say(event="window_end")
        per_session_fps, gaps = [], []
        for a in arrivals:
            inside = [t for t in a.times if start <= t < end]
            per_session_fps.append(len(inside) / (end - start))
            gaps += [b - a_ for a_, b in zip(inside, inside[1:], strict=False)]
        if MEDIA[args.kind] == "video":
            nominal = args.fps
        else:
            nominal = (
                DTX_PACKETS_PER_SECOND
                if args.kind == "voice" and arrivals and all(a.dtx for a in arrivals)
                else AUDIO_FPS
            )
        say(
            event="result",
            opened=len(arrivals),
            failed=len(sessions) - len(arrivals),
            errors=errors[:3],
            fps=per_session_fps,
            nominal_fps=nominal,
            gap_p95_ms=None if not gaps else 1000 * (percentile(gaps, 95) or 0.0),
            gap_max_ms=None if not gaps else 1000 * max(gaps),
        )
    finally:
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["rtcstream", "bare"], required=True)
    parser.add_argument("--urls", nargs="+", required=True, help="server base URLs (http://...) or the bare ws:// URL")
    parser.add_argument("--kind", choices=sorted(ENDPOINTS), default="audio")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--fps", type=float, default=15.0, help="video frames per second sent")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=8.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
