"""Private redis-server and PostgreSQL servers for the tests of several workers.

Each runs from a temporary directory on a free port (in a network namespace when
given an ``ip netns exec`` prefix) and is gone when its block ends. PostgreSQL
refuses to run as root; under root its cluster belongs to the ``postgres`` user
that Debian's package creates (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.daphne import free_port, running


def postgres_bin() -> Path | None:
    """The directory of Debian's newest PostgreSQL binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing_engines() -> list[str]:
    missing = [] if shutil.which("redis-server") else ["redis-server"]
    return missing + ([] if postgres_bin() else ["postgresql"])


def require_engines() -> None:
    """Skip when redis-server or PostgreSQL is missing, except under CI, where that is a failure."""
    if missing := missing_engines():
        message = f"needs {' and '.join(missing)} (bash scripts/system-packages.sh installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def redis_server(host: str = "127.0.0.1", prefix: Sequence[str] = (), name: str = "redis") -> Iterator[str]:
    """A redis-server of its own, without persistence; yields its URL."""
    port = free_port() if not prefix else 6379
    with tempfile.TemporaryDirectory(prefix="rtcstream-redis-") as directory:
        command = [*prefix, "redis-server", "--bind", host, "--port", str(port), "--save", "", "--appendonly", "no"]
        with running([*command, "--dir", directory, "--protected-mode", "no"], name, host, port):
            yield f"redis://{host}:{port}/0"


@contextlib.contextmanager
def postgres_server(
    host: str = "127.0.0.1", prefix: Sequence[str] = (), clients: str = "127.0.0.1/32", name: str = "postgres"
) -> Iterator[str]:
    """A private PostgreSQL cluster (initdb in a temporary directory); yields a DATABASE_URL.

    ``clients`` is the network allowed in (trust authentication: the cluster lives only for the test).
    """
    binaries = postgres_bin()
    assert binaries is not None
    port = free_port() if not prefix else 5432
    directory = tempfile.mkdtemp(prefix="rtcstream-pg-")
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        data = os.path.join(directory, "data")
        subprocess.run(
            [
                *_as_postgres(),
                str(binaries / "initdb"),
                "-D",
                data,
                "-U",
                "rtc",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(os.path.join(data, "pg_hba.conf"), "a") as hba:
            hba.write(f"host all all {clients} trust\n")
        options = ["-c", f"listen_addresses={host}", "-c", f"unix_socket_directories={directory}", "-c", "fsync=off"]
        options += ["-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"]
        command = [*prefix, *_as_postgres(), str(binaries / "postgres"), "-D", data, "-p", str(port), *options]
        with running(command, name, host, port):
            url = f"postgres://rtc@{host}:{port}/postgres"
            _wait_until_ready(url)
            yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _wait_until_ready(url: str, timeout: float = 30) -> None:
    """PostgreSQL listens before it accepts sessions ("the database system is starting up")."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
