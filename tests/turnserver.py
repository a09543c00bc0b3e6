"""Run a real coturn ``turnserver`` on loopback with a REST API shared secret (for the TURN tests)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STUN_BINDING_REQUEST = bytes.fromhex("0001 0000 2112a442") + os.urandom(12)


@dataclass(frozen=True)
class TurnServer:
    url: str
    secret: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_udp_and_tcp_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                with socket.socket() as tcp:
                    tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _answers_stun(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        try:
            probe.sendto(STUN_BINDING_REQUEST, ("127.0.0.1", port))
            return probe.recv(2048)[:2] == b"\x01\x01"  # a binding success response
        except OSError:
            return False


@contextlib.contextmanager
def turnserver(folder: Path, secret: str = "rtcstream-test-secret") -> Iterator[TurnServer]:
    """Start ``turnserver`` on 127.0.0.1 (UDP and TCP, no TLS) and stop it afterwards.

    coturn refuses to relay to loopback peers unless told (--allow-loopback-peers);
    the CLI (a telnet port, 5766 for every instance) is off so that runs side by side do not collide.
    """
    binary = shutil.which("turnserver")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("turnserver (Debian package coturn) is required under CI=true", pytrace=False)
        pytest.skip("turnserver is not installed (apt-get install coturn)")
    port = _free_udp_and_tcp_port()
    log = folder / "turnserver.log"
    process = subprocess.Popen(
        [
            binary,
            "-n",  # no configuration file
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=rtcstream.test",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            f"--pidfile={folder / 'turnserver.pid'}",
            f"--db={folder / 'turndb'}",
            f"--log-file={log}",
            "--simple-log",
            "--no-stdout-log",
            "--verbose",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not _answers_stun(port):
            if process.poll() is not None:
                raise RuntimeError(f"turnserver exited with code {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"turnserver did not answer STUN on port {port}; see {log}")
        yield TurnServer(url=f"turn:127.0.0.1:{port}?transport=udp", secret=secret, port=port, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
