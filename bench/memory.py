"""Does a server's memory come back? RSS of a real daphne over 10,000 fuzzed
messages and 1,000 short sessions.

Run: ``.venv/bin/python bench/memory.py`` (a few minutes; ``--sessions`` and
``--messages`` scale it). Prints figures and the verdict against issue 10's bar
(RSS after the run within 10% of RSS after the first 100 sessions); exits 1 if
it is missed. daphne runs the test settings on 127.0.0.1 (a fresh SQLite
database under ``test-output/``, its log in ``test-output/bench-memory.log``);
the clients run in this process.

The work comes in rounds of 10 sessions and 100 fuzzed messages:

* half the sessions connect media (an echo, 0.2 s of tone) and stop; the other
  half are the races that used to leak a slot: an offer and ``stop`` in one
  write, an offer and a dropped socket, an offer refused for its SDP;
* the fuzzed messages (a fixed seed) are malformed JSON, JSON nested 2,000
  deep, 300 KB frames, unknown types, wrong field types, offers whose SDP lacks
  a fingerprint or carries out-of-range ports, garbage candidates, inputs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from aiortc import RTCPeerConnection  # noqa: E402

from rtcstream.client import ArrayAudioTrack, RtcClient  # noqa: E402
from tests.daphne import serve  # noqa: E402
from tests.handlers import tone  # noqa: E402

ENDPOINT = "t-echo"
SESSIONS_PER_ROUND = 10
MESSAGES_PER_SOCKET = 25
PARALLEL = 4


async def offer_sdp() -> str:
    pc = RTCPeerConnection()
    pc.addTrack(ArrayAudioTrack(tone(440, 1, 48000)))
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def fuzzed_messages(rng: random.Random, sdp: str, count: int) -> list[str]:
    no_fingerprint = "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith("a=fingerprint"))
    bad_port = re.sub(r"^m=audio \d+", "m=audio 999999", sdp, flags=re.M)
    makers = [
        lambda: "not json {" + "x" * rng.randint(0, 100),
        lambda: '{"type":"ping","x":' + "[" * 2000 + "]" * 2000 + "}",
        lambda: json.dumps({"type": "inputs", "values": ["x" * 300_000]}),
        lambda: json.dumps({"type": "dance", "n": rng.random()}),
        lambda: json.dumps({"type": "offer", "sdp": rng.randint(0, 9)}),
        lambda: json.dumps({"type": "offer", "sdp": no_fingerprint}),
        lambda: json.dumps({"type": "offer", "sdp": bad_port}),
        lambda: json.dumps({"type": "offer", "sdp": "v=0\r\n" + "".join(rng.choices("am=c \r\n0123", k=200))}),
        lambda: json.dumps({"type": "candidate", "candidate": "candidate:" + "z" * rng.randint(0, 50)}),
        lambda: json.dumps({"type": "inputs", "values": [rng.random() for _ in range(rng.randint(0, 64))]}),
        lambda: json.dumps([1, 2, {"type": "ping"}]),
    ]
    return [rng.choice(makers)() for _ in range(count)]


async def fuzz(server: str, messages: list[str]) -> None:
    async with await RtcClient.connect(server, ENDPOINT) as client:
        for message in messages:
            await client.send_raw(message)
        await client.send({"type": "ping"})
        await client.wait_for_message("pong", timeout=30)
        if any(m["type"] == "socket_closed" for m in client.messages):
            raise AssertionError("a fuzzed message closed the socket")


async def session(server: str, kind: int, sdp: str) -> None:
    async with await RtcClient.connect(server, ENDPOINT) as client:
        if kind == 0:  # a real short session
            await client.start(audio=ArrayAudioTrack(tone(440, 0.2, 48000)))
            await client.wait_for_event("connected")
            await client.stop()
        elif kind == 1:  # offer and stop in one write
            await client.send({"type": "offer", "sdp": sdp})
            await client.send({"type": "stop"})
            await client.wait_closed()
        elif kind == 2:  # offer, then the page goes
            await client.send({"type": "offer", "sdp": sdp})
        else:  # an offer refused for its SDP
            await client.send({"type": "offer", "sdp": sdp.replace("a=ice-pwd:", "a=x-ice-pwd:")})
            await client.wait_for_message("error")


async def bounded(jobs: list, limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(job) -> None:
        async with semaphore:
            await job

    await asyncio.gather(*(run(job) for job in jobs))


async def main(sessions: int, messages: int) -> int:
    rng = random.Random(10)
    sdp = await offer_sdp()
    rounds = max(1, sessions // SESSIONS_PER_ROUND)
    per_round = messages // rounds
    with serve("tests.settings", "bench-memory") as (server, process):
        daphne = psutil.Process(process.pid)
        mib = lambda: daphne.memory_info().rss / 2**20  # noqa: E731
        print(f"daphne RSS at start: {mib():.1f} MiB")
        figures: list[tuple[int, int, float]] = []
        done_sessions = done_messages = 0
        for n in range(rounds):
            batch = fuzzed_messages(rng, sdp, per_round)
            jobs = [fuzz(server, batch[i : i + MESSAGES_PER_SOCKET]) for i in range(0, len(batch), MESSAGES_PER_SOCKET)]
            jobs += [session(server, i % 2 * (1 + i // 2 % 3), sdp) for i in range(SESSIONS_PER_ROUND)]
            await bounded(jobs, PARALLEL)
            done_sessions += SESSIONS_PER_ROUND
            done_messages += len(batch)
            if done_sessions % 100 == 0 or n == rounds - 1:
                gc.collect()
                await asyncio.sleep(1.0)  # let the server finish closing what the last round left
                figures.append((done_sessions, done_messages, mib()))
                print(f"after {done_sessions:5d} sessions, {done_messages:6d} messages: RSS {figures[-1][2]:.1f} MiB")
        base = figures[0][2]
        final = figures[-1][2]
        peak = max(f[2] for f in figures)
        growth = final / base - 1
        print(
            f"RSS after the first {figures[0][0]} sessions: {base:.1f} MiB; at the end: {final:.1f} MiB ({growth:+.1%})"
        )
        print(f"peak {peak:.1f} MiB; open files of daphne at the end: {daphne.num_fds()}")
        ok = growth <= 0.10
        print("within 10%: " + ("yes" if ok else "NO"))
        return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.sessions, args.messages)))
