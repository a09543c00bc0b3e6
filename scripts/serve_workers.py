"""Serve the site with N daphne workers on one port (``make serve-workers N=2``).

This process binds the port once and hands the listening socket to N daphne
processes (``daphne --fd``): the kernel gives each new connection to one of
them. It restarts a worker that dies (after a second) and stops them all on
SIGTERM or Ctrl-C.

Several workers need shared engines: set ``REDIS_URL`` (outputs, admin control,
per-client caps) and ``DATABASE_URL`` (admission) for every worker; see
docs/deploy.md. Put a reverse proxy in front (deploy/nginx.conf) for TLS.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--workers", type=int, default=2)
    parser.add_argument("-b", "--bind", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("--application", default="rtcproject.asgi:application")
    args = parser.parse_args()
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        print(
            "serve_workers: several workers need REDIS_URL (and DATABASE_URL): without a shared channel layer, "
            "a page's outputs socket and the admin's terminate reach only the worker that holds the session. "
            "See docs/deploy.md.",
            file=sys.stderr,
        )
        return 2

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

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            time.sleep(0.5)
            for i, worker in enumerate(workers):
                if worker.poll() is not None and not stopping:
                    print(f"serve_workers: worker {worker.pid} exited ({worker.returncode}); restarting", flush=True)
                    time.sleep(1)
                    workers[i] = start()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
