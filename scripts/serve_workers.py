"""Serve the site with N daphne workers on one port (``make serve-workers N=2``).

This process binds the port once and hands the listening socket to N daphne
processes (``daphne --fd``): the kernel gives each new connection to one of
them, through the socket's one accept queue. It restarts a worker that exits
(after a second) and stops them all on SIGTERM or Ctrl-C.

SIGHUP restarts the workers one at a time (a rolling restart, for a deploy): a
new worker starts, and after ``--warmup`` seconds the old one gets SIGTERM; it
drains (``RTCSTREAM["DRAIN_SECONDS"]``: it stops accepting, so the others take
every new connection, and its live sessions run on up to that bound), and once
it has exited the next one is replaced. Nothing queued in the accept queue is
lost meanwhile.

Several workers need shared engines: set ``REDIS_URL`` (outputs, admin control,
per-client caps) and ``DATABASE_URL`` (admission) for every worker; see
docs/deploy.md. Put a reverse proxy in front (deploy/nginx.conf) for TLS. With
``PROMETHEUS_MULTIPROC_DIR`` set, the metrics of every worker are summed in each
one's ``/metrics/``: the directory is emptied at start, and a worker's live
gauges are dropped when it exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent


def metrics_dir() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def reset_metrics() -> None:
    """Empty the multiprocess metrics directory: values of an earlier run would count as this one's."""
    path = metrics_dir()
    if path is None:
        return
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def forget_worker(pid: int) -> None:
    """Drop the live gauges of a worker that exited (its counters still count)."""
    path = metrics_dir()
    if path is None:
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(pid, str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--workers", type=int, default=2)
    parser.add_argument("-b", "--bind", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("--application", default="rtcproject.asgi:application")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds a new worker gets before the old one drains")
    parser.add_argument(
        "--stop-timeout", type=float, default=45.0, help="seconds a worker may drain before it is killed"
    )
    args = parser.parse_args()
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        print(
            "serve_workers: several workers need REDIS_URL (and DATABASE_URL): without a shared channel layer, "
            "a page's outputs socket and the admin's terminate reach only the worker that holds the session. "
            "See docs/deploy.md.",
            file=sys.stderr,
        )
        return 2
    reset_metrics()

    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.port))
    listener.listen(1024)
    listener.set_inheritable(True)
    fd = listener.fileno()
    command = [sys.executable, "-m", "daphne", "--fd", str(fd), args.application]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=ROOT, pass_fds=(fd,))

    workers = [start() for _ in range(args.workers)]
    print(f"serve_workers: {args.workers} daphne workers on http://{args.bind}:{args.port}/", flush=True)
    stopping = False
    to_replace: list[subprocess.Popen[bytes]] = []  # old workers a rolling restart has yet to replace
    retiring: list[tuple[subprocess.Popen[bytes], float]] = []  # (old worker, when it is killed) draining now
    replacing: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], float] | None = None  # (old, new, drain at)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def rolling_restart(signum: int, frame: FrameType | None) -> None:
        to_replace.extend(w for w in workers if w not in to_replace)
        print(f"serve_workers: rolling restart of {len(to_replace)} worker(s)", flush=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, rolling_restart)
    try:
        while not stopping:
            time.sleep(0.2)
            now = time.monotonic()
            # A rolling restart: one worker at a time, the next once the last one has drained.
            if replacing is None and not retiring and to_replace:
                old = to_replace.pop(0)
                if old in workers:
                    new = start()
                    workers[workers.index(old)] = new
                    replacing = (old, new, now + args.warmup)
                    print(f"serve_workers: started {new.pid} to replace {old.pid}", flush=True)
            if replacing is not None and now >= replacing[2]:
                old = replacing[0]
                replacing = None
                old.terminate()
                retiring.append((old, now + args.stop_timeout))
                print(f"serve_workers: {old.pid} drains (SIGTERM)", flush=True)
            for old, kill_at in list(retiring):
                if old.poll() is not None:
                    retiring.remove((old, kill_at))
                    forget_worker(old.pid)
                    print(f"serve_workers: {old.pid} has stopped ({old.returncode})", flush=True)
                elif now >= kill_at:
                    old.kill()
            for i, worker in enumerate(workers):
                if worker.poll() is not None and not stopping:
                    forget_worker(worker.pid)
                    print(f"serve_workers: worker {worker.pid} exited ({worker.returncode}); restarting", flush=True)
                    time.sleep(1)
                    workers[i] = start()
    finally:
        everyone = workers + [old for old, _ in retiring] + ([replacing[0]] if replacing else [])
        for worker in everyone:
            if worker.poll() is None:
                worker.terminate()
        deadline = time.monotonic() + args.stop_timeout
        for worker in everyone:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            forget_worker(worker.pid)
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
