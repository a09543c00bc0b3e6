"""How many sessions one daphne process holds, and two, against a bare aiortc echo server.

    python bench/capacity.py                     # make bench-capacity
    python bench/capacity.py --audio 4 8 --video 1 2 --window 6

For each server (rtcstream with 1 daphne worker, with 2 daphne workers and the
sessions split between them, and ``bench/bare_echo.py``: aiortc alone; all
three run for the whole bench, and each K runs on each in turn, so that they
share the machine's load of the moment) and for each K, a load generator in its own process (``bench/capacity_load.py``, the
Python client) opens K audio echo sessions, then K 640x480 video sessions
through a per-frame function, then K idle connected voice sessions (``ReplyOnPause``,
the caller silent: the bare server echoes the silence), and measures a window. Per K it prints: the
server processes' CPU (percent of one core, total and per session), the
frames per second each session received (median and worst), the p95
inter-frame gap, input frames rtcstream dropped ("slower than real time"), and
whether K was held at full cadence: every session within 5% of the frame rate
sent, and the p95 gap under 2.5 frame periods, with no input frames dropped.
The load generator's CPU and the machine's load are printed too: on a shared
machine they bound what the figures mean.

``--profile K`` then samples each server at K audio sessions with py-spy (if
installed) and shows where the time goes: the event loop (split by what it
runs), rtcstream's worker pool, aiortc's decoder threads and the executor
threads where aiortc encodes.

``--worker-cpu SHARE`` holds each server process to SHARE of one core with a cgroup
CPU quota (``bench/cpu_quota.py``; needs root): on a machine with few cores the
load generator needs a core of its own before two whole-core workers reach their
limit, so "2 workers / 1 worker" there measures the machine; with a quota per
worker it measures how the workers scale when each has its own CPU.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.capacity_load import MEDIA  # noqa: E402
from bench.cpu_quota import CpuQuota  # noqa: E402
from tests.daphne import OUTPUT, serve  # noqa: E402

SETTINGS = "bench.settings_capacity"
DROP_WARNING = "slower than real time"


@dataclass
class Server:
    """One target: its processes, the URLs sessions are split over, and its logs (for dropped frames)."""

    name: str
    processes: list[psutil.Process]
    urls: list[str]
    target: str  # "rtcstream" or "bare"
    logs: list[Path] = field(default_factory=list)

    def cpu(self) -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in self.processes)

    def drops(self) -> int:
        return sum(log.read_text(errors="replace").count(DROP_WARNING) for log in self.logs if log.exists())


@dataclass
class Step:
    server: str
    kind: str
    sessions: int
    opened: int
    cpu: float  # percent of one core, all server processes
    client_cpu: float
    machine_busy: float  # percent of all cores, everything on the machine
    load: float
    fps: list[float]
    nominal_fps: float
    gap_p95_ms: float | None
    drops: int
    errors: list[str]

    @property
    def per_session(self) -> float:
        return self.cpu / max(1, self.opened)

    @property
    def held(self) -> bool:
        period_ms = 1000 / self.nominal_fps
        return (
            self.opened == self.sessions
            and bool(self.fps)
            and min(self.fps) >= 0.95 * self.nominal_fps
            and self.gap_p95_ms is not None
            and self.gap_p95_ms <= 2.5 * period_ms
            and self.drops == 0
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def rtcstream_server(workers: int) -> Iterator[Server]:
    """``workers`` daphne processes, each on its own port (the load generator splits sessions between them)."""
    with contextlib.ExitStack() as stack:
        served = [stack.enter_context(serve(SETTINGS, f"capacity-{workers}w-{i}")) for i in range(workers)]
        yield Server(
            name=f"rtcstream {workers}w",
            processes=[psutil.Process(process.pid) for _url, process in served],
            urls=[url for url, _process in served],
            target="rtcstream",
            logs=[OUTPUT / f"capacity-{workers}w-{i}.log" for i in range(workers)],
        )


@contextlib.contextmanager
def bare_server() -> Iterator[Server]:
    port = free_port()
    OUTPUT.mkdir(exist_ok=True)
    with open(OUTPUT / "capacity-bare.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_echo.py"), "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("bench/bare_echo.py did not start; see test-output/capacity-bare.log")
                time.sleep(0.05)
            yield Server("bare aiortc", [psutil.Process(process.pid)], [f"ws://127.0.0.1:{port}"], "bare")
        finally:
            process.terminate()
            process.wait(timeout=10)


def run_step(server: Server, kind: str, sessions: int, args: argparse.Namespace, profile: Path | None = None) -> Step:
    """One load generator run; CPU is read when it says its window starts and ends."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "capacity_load.py"),
        "--target", server.target,
        "--urls", *server.urls,
        "--kind", kind,
        "--sessions", str(sessions),
        "--fps", str(args.fps),
        "--warmup", str(args.warmup),
        "--window", str(args.window),
    ]  # fmt: skip
    drops_before = server.drops()
    generator = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    client = psutil.Process(generator.pid)
    spies: list[subprocess.Popen[bytes]] = []
    marks: dict[str, tuple[float, float, float, float]] = {}
    result: dict[str, Any] = {}
    assert generator.stdout is not None
    for line in generator.stdout:
        message = json.loads(line)
        if message["event"] in ("window_start", "window_end"):
            times = client.cpu_times()
            busy = psutil.cpu_percent()  # since the previous call: at the end, the machine over the window
            marks[message["event"]] = (time.monotonic(), server.cpu(), times.user + times.system, busy)
            if message["event"] == "window_start" and profile is not None:
                spies = [
                    spy(p.pid, args.window, profile.with_suffix(f".{i}.txt")) for i, p in enumerate(server.processes)
                ]
        elif message["event"] == "result":
            result = message
    generator.wait()
    for process in spies:
        process.wait()
    (t0, s0, c0, _), (t1, s1, c1, busy) = marks["window_start"], marks["window_end"]
    return Step(
        server=server.name,
        kind=kind,
        sessions=sessions,
        opened=result["opened"],
        cpu=(s1 - s0) / (t1 - t0) * 100,
        client_cpu=(c1 - c0) / (t1 - t0) * 100,
        machine_busy=busy,
        load=os.getloadavg()[0],
        fps=result["fps"],
        nominal_fps=result["nominal_fps"],
        gap_p95_ms=result["gap_p95_ms"],
        drops=server.drops() - drops_before,
        errors=result["errors"],
    )


# -- profiles -----------------------------------------------------------------------------------


def spy(pid: int, seconds: float, into: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100"]
        + ["--format", "raw", "--threads", "--nonblocking", "-o", str(into)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# Leaves where a thread blocks (epoll, the pool's queue, a condition): a sample there is a thread
# that has been woken and waits for the GIL or for a CPU, since py-spy leaves out idle threads.
WAKING = ("select (selectors.py", "_worker (concurrent/futures/thread.py:81)", "Condition.wait (threading.py")


def is_waking(leaf: str) -> bool:
    return any(wait in leaf for wait in WAKING)


LOOP_PARTS = [  # (label, a path fragment of a frame), the first match from the leaf wins
    ("handoff to threads", "concurrent/futures/"),
    ("handoff to threads", "threading.py"),
    ("handoff to threads", "call_soon_threadsafe"),
    ("codec on the loop (PyAV, audio level)", "av/"),
    ("codec on the loop (PyAV, audio level)", "compute_audio_level"),
    ("rtcstream (media, runners)", "rtcstream/"),
    ("aiortc RTP/RTCP", "aiortc/"),
    ("SRTP", "pylibsrtp"),
    ("ICE (aioice)", "aioice/"),
    ("Channels / daphne / Twisted / Django", "channels/"),
    ("Channels / daphne / Twisted / Django", "daphne/"),
    ("Channels / daphne / Twisted / Django", "twisted/"),
    ("Channels / daphne / Twisted / Django", "django/"),
    ("websockets", "websockets/"),
    ("asyncio itself", "asyncio/"),
]


def thread_part(thread: str) -> str:
    if thread == "MainThread":
        return "event loop"
    if thread.startswith("rtcstream-db"):
        return "database threads"
    if thread.startswith("rtcstream"):
        return "rtcstream worker pool"
    if thread.endswith("-decoder"):
        return "aiortc decoders (codec)"
    if thread.startswith("asyncio"):
        return "executor (aiortc encoders: codec)"
    return "other threads"


def loop_part(stack: list[str]) -> str:
    if stack and is_waking(stack[-1]):
        return "waking (GIL or CPU wait)"
    for frame in reversed(stack):
        for label, fragment in LOOP_PARTS:
            if fragment in frame:
                return label
    return "other"


@dataclass
class Profile:
    """Percent of wall time threads were running or runnable (py-spy samples at 100 Hz), by thread kind."""

    threads: dict[str, float]
    waking: dict[str, float]  # of which: woken, waiting for the GIL or a CPU
    loop: dict[str, float]  # the event loop's samples by what it was running

    def lines(self) -> list[str]:
        threads = ", ".join(f"{k} {v:.1f} (waking {self.waking.get(k, 0):.1f})" for k, v in self.threads.items())
        return [threads, "event loop: " + ", ".join(f"{k} {v:.1f}" for k, v in self.loop.items())]


def read_profiles(paths: list[Path], seconds: float) -> Profile:
    """Read py-spy's raw (collapsed) stacks, one file per server process."""
    threads: collections.Counter[str] = collections.Counter()
    waking: collections.Counter[str] = collections.Counter()
    loop: collections.Counter[str] = collections.Counter()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack_text, _, count_text = line.rpartition(" ")
            frames, count = stack_text.split(";"), int(count_text)
            part = thread_part(frames[0].split(": ", 1)[-1] if frames[0].startswith("thread") else "?")
            threads[part] += count
            if is_waking(frames[-1]):
                waking[part] += count
            if part == "event loop":
                loop[loop_part(frames[1:])] += count
    per_percent = seconds  # 100 samples a second: `seconds` samples are 1 % of wall time
    return Profile(
        {k: v / per_percent for k, v in threads.most_common()},
        {k: v / per_percent for k, v in waking.items()},
        {k: v / per_percent for k, v in loop.most_common()},
    )


# -- report -------------------------------------------------------------------------------------


def describe(step: Step) -> str:
    fps = sorted(step.fps)
    median = fps[len(fps) // 2] if fps else 0.0
    gap = f"{step.gap_p95_ms:6.0f}" if step.gap_p95_ms is not None else "     -"
    failed = f"  ({step.sessions - step.opened} failed: {step.errors[0][:60]})" if step.opened < step.sessions else ""
    return (
        f"{step.server:<14} {step.sessions:>3} {step.cpu:7.1f} {step.per_session:7.2f} "
        f"{median:6.1f} {min(fps, default=0):6.1f} {gap} {step.drops:6d} {'yes' if step.held else 'no':>5}"
        f" {step.client_cpu:7.1f} {step.machine_busy:5.0f} {step.load:5.1f}{failed}"
    )


HEADER = (
    f"{'server':<14} {'K':>3} {'cpu %':>7} {'/sess':>7} {'fps md':>6} {'min':>6} {'p95 gap':>6} "
    f"{'drops':>6} {'held':>5} {'client%':>7} {'busy%':>5} {'load':>5}"
)


def largest_held(steps: list[Step]) -> int:
    return max((s.sessions for s in steps if s.held), default=0)


def held_text(steps: list[Step]) -> str:
    """The largest K held; "K+" when it was the largest K tried (the real limit is higher)."""
    k = largest_held(steps)
    return f"{k}+" if k and k == max(s.sessions for s in steps) else str(k)


def ratios(steps: list[Step], kind: str) -> list[str]:
    lines = []
    by = {(s.server, s.sessions): s for s in steps if s.kind == kind}
    for k in sorted({s.sessions for s in steps if s.kind == kind}):
        ours, bare = by.get(("rtcstream 1w", k)), by.get(("bare aiortc", k))
        if ours and bare and bare.per_session > 0:
            lines.append(
                f"  K={k}: rtcstream 1w / bare CPU per session = {ours.per_session / bare.per_session:.2f}x "
                f"({ours.per_session:.2f} vs {bare.per_session:.2f} % of a core)"
            )
    names = list(dict.fromkeys(s.server for s in steps if s.kind == kind))
    mine = {name: [s for s in steps if s.kind == kind and s.server == name] for name in names}
    lines.append("  largest K held at full cadence: " + ", ".join(f"{n} {held_text(mine[n])}" for n in names))
    one, two = (largest_held(mine.get(n, [])) for n in ("rtcstream 1w", "rtcstream 2w"))
    if one and two:
        if "+" in held_text(mine["rtcstream 1w"]):
            lines.append("  2 workers / 1 worker: not measured (1 worker held every K tried)")
        else:
            more = " or more (2 workers held every K tried)" if "+" in held_text(mine["rtcstream 2w"]) else ""
            lines.append(f"  2 workers / 1 worker: {two / one:.2f}x{more}")
    return lines


def idle_voice(steps: list[Step]) -> str:
    """The idle connected voice session's CPU against the < 2 % target.

    Two figures: the process's CPU divided by K at the largest K held (which still carries a
    share of what the process costs with no session at all), and what one more session adds
    (the least-squares slope of CPU against K over the Ks held).
    """
    held = [s for s in steps if s.kind == "voice" and s.server == "rtcstream 1w" and s.held]
    if not held:
        return "idle voice session: no K held on rtcstream 1w (see the table)"
    step = max(held, key=lambda s: s.sessions)
    verdict = "met" if step.per_session < 2.0 else "not met"
    line = (
        f"idle connected voice session: {step.per_session:.2f} % of a core (K={step.sessions}; target < 2 %: {verdict})"
    )
    if len({s.sessions for s in held}) >= 2:
        ks = [s.sessions for s in held]
        slope = statistics.linear_regression(ks, [s.cpu for s in held]).slope
        line += f"; each session added {slope:.2f} % (slope over K = {', '.join(map(str, sorted(ks)))})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audio", type=int, nargs="*", default=[4, 8, 16, 24, 32], help="K audio sessions per step")
    parser.add_argument("--video", type=int, nargs="*", default=[1, 2, 4], help="K video sessions per step")
    parser.add_argument(
        "--voice",
        type=int,
        nargs="*",
        default=[1, 4, 8],
        help="K idle connected voice (ReplyOnPause) sessions per step",
    )
    parser.add_argument("--servers", nargs="+", default=["1w", "2w", "bare"], choices=["1w", "2w", "bare"])
    parser.add_argument("--fps", type=float, default=15.0, help="video frames per second sent (640x480)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--keep-going", action="store_true", help="run larger K after one that was not held")
    parser.add_argument("--profile", type=int, default=8, help="K audio sessions to profile with py-spy (0: none)")
    parser.add_argument(
        "--worker-cpu",
        type=float,
        metavar="SHARE",
        help="hold each server process to SHARE of one core (a cgroup CPU quota; needs root): "
        "how workers scale when each has its own CPU, on a machine too small to give them whole cores",
    )
    args = parser.parse_args()
    factories = {"1w": lambda: rtcstream_server(1), "2w": lambda: rtcstream_server(2), "bare": bare_server}

    print(f"bench/capacity.py on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print("cpu %: the server processes, percent of one core; client%: the load generator; busy%: the whole machine")
    if args.worker_cpu:
        print(f"each server process is held to {args.worker_cpu:g} of a core (cgroup CPU quota, 10 ms period)")
    print(f"kind  {HEADER}")
    steps: list[Step] = []
    profiles: dict[str, Profile] = {}
    can_profile = args.profile > 0 and (shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists())
    with contextlib.ExitStack() as stack:
        # Every server runs for the whole bench (an idle one costs nothing), and each K is run on
        # each server in turn, so that all of them share the machine's load of the moment.
        servers = {key: stack.enter_context(factories[key]()) for key in args.servers}
        if args.worker_cpu:
            for key, server in servers.items():
                for i, process in enumerate(server.processes):
                    stack.enter_context(CpuQuota(f"{key}-{i}", args.worker_cpu)).add(process.pid)
        for kind in MEDIA:
            counts = getattr(args, kind)
            running = set(servers)
            for k in counts:
                for key in [key for key in servers if key in running]:
                    step = run_step(servers[key], kind, k, args)
                    steps.append(step)
                    print(f"{kind:<5} {describe(step)}", flush=True)
                    if not step.held and not args.keep_going:
                        running.discard(key)
        for key in [key for key in ("1w", "bare") if key in servers and can_profile]:
            folder = OUTPUT / "capacity-profiles"  # py-spy's raw stacks stay there for flamegraphs
            folder.mkdir(parents=True, exist_ok=True)
            step = run_step(servers[key], "audio", args.profile, args, profile=folder / key)
            print(f"prof  {describe(step)}", flush=True)  # the run py-spy sampled
            profiles[servers[key].name] = read_profiles(sorted(folder.glob(f"{key}.*.txt")), args.window)

    for kind in [kind for kind in MEDIA if any(s.kind == kind for s in steps)]:
        print(f"\n{kind}:")
        for line in ratios(steps, kind):
            print(line)
    if any(s.kind == "voice" for s in steps):
        print(idle_voice(steps))
    if profiles:
        print(
            f"\nWhere the time goes at {args.profile} audio sessions (py-spy at 100 Hz: percent of wall time "
            "each kind of thread was running or runnable; 'waking': samples in an epoll/queue/condition wait, "
            "which py-spy --nonblocking cannot tell from idle: woken and waiting for the GIL or a CPU, or idle):"
        )
        for name, profile in profiles.items():
            first, loop = profile.lines()
            print(f"  {name}: {first}\n    {loop}")
    elif args.profile:
        print("\n(py-spy is not installed: pip install py-spy for where the time goes)")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
