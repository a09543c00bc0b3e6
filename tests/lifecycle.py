"""The invariant every session test ends with: the process holds nothing for sessions that are gone.

No open ``Session``, no heartbeat, no admission slot (live rows, or the
in-process backend's sets), no per-client count, no refused socket waiting for
its client, no open peer connection and
no rtcstream task but the process's own (the loop monitor). Teardown is asynchronous, so the check waits (up to a
deadline) for it to finish before it fails.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import psutil

from rtcstream.admission import backends
from rtcstream.runtime import get_runtime


def open_peer_connections() -> int:
    from aiortc import RTCPeerConnection

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed")


def open_udp_sockets() -> set[tuple[int, Any]]:
    """This process's open UDP sockets (IPv4 and IPv6) as the kernel lists them, each as its fd and address."""
    return {(c.fd, c.laddr) for c in psutil.Process().net_connections("udp")}


async def udp_sockets_bound_since(
    before: set[tuple[int, Any]], at_least: int, timeout: float = 10.0
) -> set[tuple[int, Any]]:
    """This process's UDP sockets not in ``before``, as soon as there are ``at_least`` (or at the deadline).
    Looks at every turn of the loop: aioice takes about two to bind each of a gathering's sockets."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(bound := open_udp_sockets() - before) < at_least and loop.time() < deadline:
        await asyncio.sleep(0)
    return bound


# The process's own tasks, which run whether or not it holds sessions.
PROCESS_TASKS = {"rtcstream:loop-monitor"}
# One per open websocket, whatever it holds (rtcstream.signalling.message_budget.BudgetedInbox).
SOCKET_TASK = "rtcstream:inbox"


def rtcstream_tasks() -> list[str]:
    """The sessions' tasks (not the process's, nor those of its open sockets)."""
    names = (t.get_name() for t in asyncio.all_tasks())
    return sorted(name for name in names if name.startswith("rtcstream:") and name not in {*PROCESS_TASKS, SOCKET_TASK})


def socket_tasks() -> int:
    return sum(t.get_name() == SOCKET_TASK for t in asyncio.all_tasks())


async def leftovers(*, rows: bool = True) -> list[str]:
    """Describe what is still held; empty when all is released."""
    found = []
    if sessions := list(get_runtime().sessions):
        found.append(f"open sessions: {[(s.id, s.state.value) for s in sessions]}")
    if get_runtime().heartbeat.live_sessions():
        found.append(f"heartbeats: {get_runtime().heartbeat.live_sessions()}")
    if counts := get_runtime().sockets.open_counts():
        found.append(f"per-client counts: {counts}")
    if waiting := get_runtime().refusals_waiting:
        found.append(f"{waiting} refused sockets waiting for their clients")
    if tasks := rtcstream_tasks():
        found.append(f"tasks: {tasks}")
    if (inboxes := socket_tasks()) > get_runtime().open_sockets:
        found.append(f"{inboxes} socket inbox tasks for {get_runtime().open_sockets} open sockets")
    if pcs := open_peer_connections():
        found.append(f"{pcs} open peer connections")
    backend = get_runtime().admission
    if isinstance(backend, backends.InProcessAdmission) and (slots := backend.live_sessions()):
        found.append(f"in-process slots: {slots}")
    if rows:
        from rtcstream.models import SessionStatus, StreamSession

        live = [
            s async for s in StreamSession.objects.filter(state=SessionStatus.LIVE).values_list("session_id", flat=True)
        ]
        if live:
            found.append(f"live rows: {live}")
    return found


async def assert_nothing_left(*, rows: bool = True, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (found := await leftovers(rows=rows)) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert not found, "a session left something behind: " + "; ".join(found)
