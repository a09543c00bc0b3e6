"""Start the site in a real daphne process on 127.0.0.1 (for the suite and the benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with code {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"daphne did not listen on port {port} in time; see {log}")


@contextlib.contextmanager
def serve(
    settings: str,
    name: str,
    app: str = "rtcproject.asgi:application",
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Migrate a fresh database ``test-output/<name>.sqlite3`` and serve ``app`` with ``settings``.

    ``extra_env`` is added to daphne's environment (the browser bench passes its
    options this way). Yields the base URL and the process; daphne's output goes
    to ``test-output/<name>.log``.
    """
    OUTPUT.mkdir(exist_ok=True)
    database = OUTPUT / f"{name}.sqlite3"
    database.unlink(missing_ok=True)
    env = {**os.environ, **(extra_env or {}), "DJANGO_SETTINGS_MODULE": settings, "RTCSTREAM_TEST_DB": str(database)}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = _free_port()
    log_path = OUTPUT / f"{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(port, process, log_path, time.monotonic() + 30)
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
