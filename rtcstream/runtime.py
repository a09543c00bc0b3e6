"""What one process holds for rtcstream, in one object built from settings.

The worker pool for sync user code, the admission backend and its heartbeat,
the per-client socket counts, the open sessions, the resolved registry and the
loaded models: each is built from settings the first time it is used (settings
are read then, never at import), once per process. A test that changes
``settings.RTCSTREAM`` (or ``DATABASES``) gets a new runtime, replaced whole;
a session keeps the runtime it was opened with.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.signals import setting_changed

from rtcstream import conf

logger = logging.getLogger("rtcstream.session")

if TYPE_CHECKING:
    from rtcstream.admission.backends import BaseAdmission
    from rtcstream.admission.heartbeat import Heartbeat
    from rtcstream.admission.socket_counts import BaseClientCounter
    from rtcstream.admission.waiting_room import WaitingRoom
    from rtcstream.endpoints.registry import Registry
    from rtcstream.execution.pool import WorkerPool
    from rtcstream.execution.reaper import Reaper
    from rtcstream.ledger.writer import LedgerWriter
    from rtcstream.operations.drain import Drain
    from rtcstream.operations.loop_monitor import LoopMonitor
    from rtcstream.operations.metrics import Metrics
    from rtcstream.recording.writer import RecordingWriter
    from rtcstream.session.lifecycle import Session

T = TypeVar("T")

# Released (stuck) threads allowed at once, as a multiple of WORKER_THREADS.
RELEASED_PER_THREAD = 2


class BuiltOnce:
    """Things built once each, by name, on first use: a runtime's parts, or the models its sessions share."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()  # a part's build may ask for another part

    def get(self, key: str, build: Callable[[], T]) -> T:
        """Return what is stored under ``key``, building it with ``build()`` the first time."""
        with self._lock:
            if key not in self._built:
                self._built[key] = build()
            built: T = self._built[key]
            return built


class Runtime:
    """rtcstream's per-process state; each part is built from settings on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts = BuiltOnce()
        self.sessions: set[Session] = set()  # open in this process
        self.open_sockets = 0  # rtcstream websockets open in this process (signalling/middleware.ClientLimits)
        self.refusals_waiting = 0  # refused sockets waiting for their clients to hang up (signalling/refusal)
        self.models = BuiltOnce()  # models loaded once and shared by every session (an ONNX session is thread-safe)
        self.checks_ran = threading.Event()  # the system checks logged on the first request or socket (checks.startup)
        self._exit_hook = False
        self._serving: asyncio.AbstractEventLoop | None = None  # the loop serving() last ran on

    def track(self, session: Session) -> None:
        """Count ``session`` as open; the first one registers the hook that closes those left at exit."""
        from rtcstream.session import exit_hook

        with self._lock:
            if not self._exit_hook:
                self._exit_hook = exit_hook.install(lambda: exit_hook.close_sessions(list(self.sessions)))
            self.sessions.add(session)

    def untrack(self, session: Session) -> None:
        self.sessions.discard(session)

    def at_session_limit(self, refusing: str) -> bool:
        """Whether this process carries ``RTCSTREAM["MAX_SESSIONS"]`` sessions' media already; if so, the
        refusal of ``refusing`` (what the caller turns away) is logged. A session counts from its offer (or
        ``media``) until it has closed; one whose socket has only opened does not, so idle sockets, which
        ``MAX_SOCKETS`` and ``MAX_SOCKETS_PER_CLIENT`` bound, cannot lock streams out."""
        limit = conf.get("MAX_SESSIONS")
        if limit is None or sum(1 for session in self.sessions if session.carries_media) < limit:
            return False
        logger.warning("Refused %s: this process carries its limit of %d streams (MAX_SESSIONS)", refusing, limit)
        return True

    @property
    def pool(self) -> WorkerPool:
        """Threads for sync user code (``RTCSTREAM["WORKER_THREADS"]``)."""
        from rtcstream.execution.pool import WorkerPool

        def build() -> WorkerPool:
            size = conf.get("WORKER_THREADS")
            return WorkerPool(size, max_released=RELEASED_PER_THREAD * size)

        return self._parts.get("pool", build)

    @property
    def reaper(self) -> Reaper:
        """Sees calls abandoned by their sessions to their end: woken, or released from the pool."""
        from rtcstream.execution.reaper import Reaper

        return self._parts.get("reaper", lambda: Reaper(self.pool))

    @property
    def registry(self) -> Registry:
        """The handlers ``RTCSTREAM["HANDLERS"]`` names, resolved when first asked for."""
        from rtcstream.endpoints.registry import Registry

        return self._parts.get("registry", lambda: Registry(conf.get("HANDLERS")))

    @property
    def admission(self) -> BaseAdmission:
        """The backend ``RTCSTREAM["ADMISSION_BACKEND"]`` names."""
        from rtcstream.admission.backends import BaseAdmission

        return self._parts.get("admission", lambda: conf.load("ADMISSION_BACKEND", BaseAdmission)())

    @property
    def heartbeat(self) -> Heartbeat:
        """Tells the admission backend which of this process's sessions still live."""
        from rtcstream.admission.heartbeat import Heartbeat

        return self._parts.get("heartbeat", lambda: Heartbeat(self.admission))

    @property
    def queries(self) -> ThreadPoolExecutor:
        """Threads for rtcstream's own queries (admission, account checks), apart from the loop's
        default executor: aiortc encodes media there, and a query waiting on a lock must never hold media back."""
        return self._parts.get("queries", lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="rtcstream-db"))

    @property
    def waiting_room(self) -> WaitingRoom:
        """Wakes this process's clients waiting for a seat when one frees on any process."""
        from rtcstream.admission.waiting_room import WaitingRoom

        return self._parts.get("waiting_room", WaitingRoom)

    @property
    def sockets(self) -> BaseClientCounter:
        """The per-client socket counts (``RTCSTREAM["CLIENT_COUNTER"]``)."""
        from rtcstream.admission.socket_counts import BaseClientCounter

        return self._parts.get("sockets", lambda: conf.load("CLIENT_COUNTER", BaseClientCounter)())

    @property
    def ledger(self) -> LedgerWriter | None:
        """Writes the session ledger (``RTCSTREAM["LEDGER"]``); None when it is off, or when the
        admission backend keeps no session rows for it to complete (``InProcessAdmission``)."""
        from rtcstream.admission.backends import DatabaseAdmission
        from rtcstream.ledger.writer import LedgerWriter

        def build() -> LedgerWriter | None:
            if not conf.get("LEDGER") or not isinstance(self.admission, DatabaseAdmission):
                return None
            return LedgerWriter(conf.get("LEDGER_MAX_PENDING"))

        return self._parts.get("ledger", build)

    @property
    def recordings(self) -> RecordingWriter | None:
        """Writes sessions' recordings (an endpoint's ``record``); None without the ledger, whose rows they need."""
        from rtcstream.recording.writer import RecordingWriter

        def build() -> RecordingWriter | None:
            if self.ledger is None:
                return None
            return RecordingWriter(conf.get("RECORDING_MAX_PENDING_BYTES"))

        return self._parts.get("recordings", build)

    @property
    def metrics(self) -> Metrics:
        """This process's metrics, in a registry of their own (``rtcstream.operations.metrics``)."""
        from rtcstream.operations.metrics import build_metrics

        return self._parts.get("metrics", build_metrics)

    @property
    def loop_monitor(self) -> LoopMonitor:
        """Samples the event loop's lag and the gauges every ``RTCSTREAM["LOOP_LAG_INTERVAL"]``."""
        from rtcstream.operations.loop_monitor import LoopMonitor

        return self._parts.get("loop_monitor", lambda: LoopMonitor(self, conf.get("LOOP_LAG_INTERVAL")))

    @property
    def drain(self) -> Drain:
        """What this process does on SIGTERM under daphne (``RTCSTREAM["DRAIN_SECONDS"]``)."""
        from rtcstream.operations.drain import Drain

        return self._parts.get("drain", lambda: Drain(self))

    @property
    def draining(self) -> bool:
        """Whether this process drains (SIGTERM came): it admits no new session."""
        return self.drain.draining

    def serving(self) -> None:
        """Start what a serving process runs beside its sessions, once per event loop: the loop monitor,
        and the drain's SIGTERM handler (under daphne). Called on the loop by every websocket and scrape."""
        loop = asyncio.get_running_loop()
        if self._serving is loop:
            return
        self._serving = loop
        self.loop_monitor.start(loop)
        self.drain.install(loop)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """Return this process's runtime, making it on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime


def replace_runtime(runtime: Runtime | None = None) -> Runtime:
    """Install ``runtime`` (a fresh one by default) as this process's; return it. For tests and settings changes."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime if runtime is not None else Runtime()
        return _runtime


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("RTCSTREAM", "DATABASES"):
        replace_runtime()


setting_changed.connect(_on_setting_changed)
