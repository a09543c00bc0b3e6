"""Start the site in real daphne processes (for the suite and the benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, process: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{Path(str(process.args[0])).name} exited with code {process.returncode}; see {log}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} in time; see {log}")


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process`` and wait for it (kill it after 10 s)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(
    command: Sequence[str],
    name: str,
    host: str,
    port: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    startup: float = 30.0,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` (in ``cwd``, the repository by default) until the block ends, once it listens
    on ``host:port`` (within ``startup`` seconds); output to ``test-output/<name>.log``."""
    OUTPUT.mkdir(exist_ok=True)
    log_path = OUTPUT / f"{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(list(command), cwd=cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(host, port, process, log_path, time.monotonic() + startup)
            yield process
        finally:
            stop(process)


def migrate(env: dict[str, str], prefix: Sequence[str] = ()) -> None:
    subprocess.run(
        [*prefix, sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )


DEMO_APP = "rtcproject.asgi:application"


@contextlib.contextmanager
def worker(
    env: dict[str, str],
    name: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    prefix: Sequence[str] = (),
    cwd: Path | None = None,
    app: str = DEMO_APP,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """One daphne worker serving ``app`` with ``env`` on ``host:port`` (run under ``prefix``, e.g. ``ip netns exec``)."""
    port = port or free_port(host)
    command = [*prefix, sys.executable, "-m", "daphne", "-b", host, "-p", str(port), app]
    with running(command, name, host, port, env, cwd) as process:
        yield f"http://{host}:{port}", process


@contextlib.contextmanager
def serve(
    settings: str, name: str, *, cwd: Path | None = None, env: dict[str, str] | None = None, app: str = DEMO_APP
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Migrate a fresh database ``test-output/<name>.sqlite3`` and serve ``app`` (the site) with ``settings``.

    ``env`` adds environment variables (settings modules may read them).
    Yields the base URL and the process; daphne's output goes to ``test-output/<name>.log``.
    daphne runs in ``cwd`` (the repository by default), so handlers can open files by relative path.
    """
    OUTPUT.mkdir(exist_ok=True)
    database = OUTPUT / f"{name}.sqlite3"
    database.unlink(missing_ok=True)
    env = {**os.environ, **(env or {}), "DJANGO_SETTINGS_MODULE": settings, "RTCSTREAM_TEST_DB": str(database)}
    if cwd is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    for name_ in ("REDIS_URL", "DATABASE_URL"):
        env.pop(name_, None)
    migrate(env)
    with worker(env, name, cwd=cwd, app=app) as served:
        yield served
