"""Server CPU of one conversation on each transport: WebRTC, audio over the websocket, a Twilio phone call.

    python bench/transports.py                      # make bench-transports
    python bench/transports.py --sessions 4 --window 20

One daphne process (``bench.settings``) serves ``bench-echo``, a ``ReplyOnPause``
that plays each utterance back. For each transport in turn, a load generator in
its own process (``bench/transports_load.py``, so its CPU is not the server's)
opens K sessions whose caller says a sentence, then is silent 4.5 s (the echo
plays it back whole meanwhile), over and over; after a warm-up, the server process's CPU time (user + system, every
thread: the event loop, aiortc's codec threads, the worker pool running the
VAD's resampling and the reply) is read over a window.

What each row includes: receiving the caller's audio (WebRTC: SRTP, jitter
buffer, Opus decoding; websocket: a 20 ms frame of PCM16 or μ-law a message,
decoded; Twilio: base64 JSON around μ-law), the VAD, the reply, and sending it
(WebRTC: Opus encoding, SRTP, and the silence or DTX between replies; websocket:
resampling 48 kHz stereo to the client's rate and encoding; nothing between
replies). Not included: TLS (the loopback sockets are plain; a deployment adds
it on the websocket, and DTLS-SRTP is already in the WebRTC row), the client's
work, and the channel layer's outputs (the echo publishes none). The server's
CPU with no session (measured over a window first) is taken off, so a row is
what K sessions add, divided by K. Each transport is measured ``--rounds``
times, in turn with the others, so that they share the machine's load of the
moment; the median is printed, with the range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.transports_load import TRANSPORTS  # noqa: E402
from tests.daphne import serve  # noqa: E402

SETTINGS = "bench.settings"


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure(url: str, server: psutil.Process, transport: str, sessions: int, warmup: float, window: float, n: int):
    """Run ``sessions`` conversations on ``transport``; return the server's and the generator's CPU, and the results."""
    command = [sys.executable, str(ROOT / "bench" / "transports_load.py"), url, transport]
    command += ["--sessions", str(sessions), "--address", f"127.0.{n}.1"]
    load = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert load.stdout is not None and load.stdin is not None
    try:
        line = load.stdout.readline()
        if not line or json.loads(line)["event"] != "up":
            raise RuntimeError(f"the load generator for {transport} did not start: {line!r}")
        time.sleep(warmup)
        generator = psutil.Process(load.pid)
        load.stdin.write("window\n")
        load.stdin.flush()
        server_before, load_before, started = cpu_seconds(server), cpu_seconds(generator), time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - started
        server_cpu = (cpu_seconds(server) - server_before) / elapsed
        load_cpu = (cpu_seconds(generator) - load_before) / elapsed
        load.stdin.write("stop\n")
        load.stdin.flush()
        result = json.loads(load.stdout.readline())
        load.wait(timeout=30)
    finally:
        if load.poll() is None:
            load.kill()
    return server_cpu, load_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help="conversations at once on each transport")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--rounds", type=int, default=2, help="times each transport is measured")
    parser.add_argument("--transports", nargs="*", default=list(TRANSPORTS), choices=TRANSPORTS)
    args = parser.parse_args()
    print(
        f"{args.sessions} sessions a transport, {args.window:g} s measured after {args.warmup:g} s, "
        f"{args.rounds} rounds; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    per_session: dict[str, list[float]] = {t: [] for t in args.transports}
    generator: dict[str, list[float]] = {t: [] for t in args.transports}
    heard: dict[str, list[float]] = {t: [] for t in args.transports}
    with serve(SETTINGS, "bench-transports") as (url, process):
        server = psutil.Process(process.pid)
        before = cpu_seconds(server)
        time.sleep(args.window)
        idle = (cpu_seconds(server) - before) / args.window
        n = 1
        for _ in range(args.rounds):
            for transport in args.transports:
                n += 1
                server_cpu, load_cpu, result = measure(
                    url, server, transport, args.sessions, args.warmup, args.window, n
                )
                per_session[transport].append((server_cpu - idle) / args.sessions)
                generator[transport].append(load_cpu)
                heard[transport] += result["heard"]
    first = args.transports[0]
    baseline = statistics.median(per_session[first])
    print(f"\nthe server with no session: {idle * 100:.1f} % of a core (taken off below)")
    print(
        f"{'transport':<20} {'server CPU/session':>19} {'(range)':>11} {'vs ' + first:>10} {'generator':>10}"
        f"  audio heard per session in {args.window:g} s (median)"
    )
    for transport in args.transports:
        values = per_session[transport]
        median = statistics.median(values)
        spread = f"{min(values) * 100:.1f}-{max(values) * 100:.1f}"
        print(
            f"{transport:<20} {median * 100:>17.1f} % {spread:>11} {median / baseline:>9.2f}x "
            f"{statistics.median(generator[transport]) * 100:>8.0f} %  {statistics.median(heard[transport]):.1f} s"
        )
    print(f"\nmachine load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
