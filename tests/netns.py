"""Test hosts in Linux network namespaces: one bridge in this namespace, one
namespace per host, each on a veth port of the bridge.

The addresses are in 198.18.0.0/15 (RFC 2544, for benchmarking tests) and exist
only inside this machine: the hosts have no route anywhere else.

A browser on this machine watches this namespace's links and addresses, and a change
aborts its requests in flight (Chromium: net::ERR_NETWORK_CHANGED). So the interfaces
made here are IPv4 only (no IPv6 link-local address that appears a second or two
later, once its duplicate detection ends) and ``hosts`` yields only once the bridge is
up: after that nothing changes on this side until the hosts go.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _ipv4_only(interface: str) -> None:
    """Before the interface goes up: no IPv6 on it, so no address appears on it later
    (a kernel without IPv6 has no such setting, and nothing to turn off)."""
    setting = Path(f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6")
    if setting.exists():
        setting.write_text("1")


def _wait_up(interface: str, timeout: float = 10.0) -> None:
    """Wait for the interface's operational state to be up (a bridge goes up a moment after its first port)."""
    state = Path(f"/sys/class/net/{interface}/operstate")
    deadline = time.monotonic() + timeout
    while (now := state.read_text().strip()) != "up":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{interface} is still {now} after {timeout} s")
        time.sleep(0.05)


def require_netns() -> None:
    """Skip unless this process may create network namespaces (root and iproute2)."""
    if shutil.which("ip") is None:
        message = "needs iproute2 (bash scripts/system-packages.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    probe = f"rtcprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()}")
    _ip("netns", "del", probe)


@contextlib.contextmanager
def hosts(names: list[str]) -> Iterator[tuple[str, dict[str, tuple[list[str], str]]]]:
    """Create one namespace per name; yield this side's address on the bridge and,
    per name, the command prefix that runs inside that host and the host's address."""
    tag = f"{os.getpid() % 100000}"
    subnet = f"198.18.{os.getpid() % 250 + 1}"
    bridge = f"rtcbr{tag}"
    made: dict[str, tuple[list[str], str]] = {}
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ipv4_only(bridge)
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, name in enumerate(names):
            namespace, port = f"rtc{tag}{name}", f"rtc{tag}v{i}"
            _ip("netns", "add", namespace)
            made[name] = (["ip", "netns", "exec", namespace], f"{subnet}.{10 + i}")
            _ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ipv4_only(port)
            _ip("link", "set", port, "master", bridge, "up")
            _ip("-n", namespace, "addr", "add", f"{subnet}.{10 + i}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        _wait_up(bridge)
        yield f"{subnet}.1", made
    finally:
        for prefix, _address in made.values():
            subprocess.run(["ip", "netns", "del", prefix[-1]], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def drop_udp(namespace: str) -> None:
    """Drop every UDP datagram into or out of ``namespace`` (as a network that lets only TCP through):
    a policy rule, ahead of the local table, routes UDP to a blackhole. Needs no netfilter."""
    for family in ("-4", "-6"):
        _ip(family, "-n", namespace, "rule", "add", "pref", "10", "ipproto", "udp", "blackhole")
        _ip(family, "-n", namespace, "rule", "del", "pref", "0")
        _ip(family, "-n", namespace, "rule", "add", "pref", "100", "lookup", "local")


@contextlib.contextmanager
def forward_tcp(target: tuple[str, int], host: str = "127.0.0.1") -> Iterator[int]:
    """Forward TCP connections to ``host`` (a port of its own, yielded) to ``target``, in threads: a page
    served through it is on localhost (a secure context) while its server is in a namespace.

    Each connection gets its own thread, which connects to ``target`` (a slow connect on a loaded
    machine holds up no other connection) and then pipes both ways; an end of stream is passed on
    as a half-close, and both sockets close once both directions have ended.
    """
    import socket
    import threading

    listener = socket.create_server((host, 0))
    open_sockets: set[socket.socket] = set()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # the other direction may still be sending

    def serve(client: socket.socket) -> None:
        try:
            server = socket.create_connection(target, timeout=30)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        open_sockets.add(server)
        back = threading.Thread(target=pipe, args=(server, client), daemon=True)
        back.start()
        pipe(client, server)
        back.join()
        for end in (client, server):
            end.close()

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                open_sockets.add(client)
                threading.Thread(target=serve, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        listener.close()
        for sock in list(open_sockets):
            with contextlib.suppress(OSError):
                sock.close()
