"""Fixtures shared by the suite: the ASGI app in process, and a real daphne server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"


@pytest.fixture
def asgi_app():
    """The demo site's ASGI application, run inside the test's event loop."""
    from rtcproject.asgi import application

    return application


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with code {process.returncode}; see test-output/daphne.log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"daphne did not listen on port {port} in time")


@pytest.fixture(scope="session")
def daphne_server() -> Iterator[str]:
    """A real daphne process serving the site with the test settings; yields its base URL."""
    OUTPUT.mkdir(exist_ok=True)
    database = OUTPUT / "live.sqlite3"
    database.unlink(missing_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "RTCSTREAM_TEST_DB": str(database)}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = _free_port()
    log = open(OUTPUT / "daphne.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "rtcproject.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, time.monotonic() + 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
