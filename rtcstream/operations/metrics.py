"""The process's metrics, in Prometheus' text format through ``prometheus_client`` (``rtcstream[metrics]``).

Every metric lives in the runtime's own ``CollectorRegistry``, never in
prometheus_client's global ``REGISTRY``. Without prometheus_client installed,
``Metrics`` records nothing and the view says how to install it.

Several daphne workers behind one port: a scrape reaches whichever worker
accepts it, so each worker must answer for all of them. With
``PROMETHEUS_MULTIPROC_DIR`` set (prometheus_client's multiprocess mode, the
variable set for every worker before it starts) each worker writes its values
to files there and any worker's scrape sums them (gauges of live values over
the workers alive, per ``pid`` where a sum means nothing). Without it, a
scrape answers for its own process only: right for one daphne process.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Literal

from rtcstream.reasons import CloseReason

if TYPE_CHECKING:
    from rtcstream.runtime import Runtime

logger = logging.getLogger("rtcstream.operations")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds from the pause the server detects to the first frame of the reply it sends.
TURN_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# How late the event loop ran a task that was due: past ~50 ms, audio frames go out late.
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TURN_DOC = "ReplyOnPause: from the pause detected to the reply's first audio frame sent, by the server's clock."
LAG_DOC = "How late the event loop ran a task that was due (sampled every LOOP_LAG_INTERVAL)."
MEDIA_ERRORS = frozenset({CloseReason.MEDIA_ERROR, CloseReason.CONNECTION_FAILED})


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, if this process runs in it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """What rtcstream counts; this base records nothing (prometheus_client is not installed)."""

    available = False

    def admitted(self, endpoint: str) -> None:
        """A session took a slot of ``endpoint`` (it is live until ``released``)."""

    def released(self, endpoint: str, ended: str | None) -> None:
        """A session ``admitted`` gave its slot back: it ended (``ended``: a ``CloseReason``), or its offer was
        refused (None). Never for a place in line given back: that session was never live.
        Media failures among the ends are counted apart as well."""

    def refused(self, endpoint: str, reason: str) -> None:
        """An offer was refused (a ``Refusal``)."""

    def socket_refused(self, reason: str) -> None:
        """A websocket was refused before any session (a ``CloseCode``'s name)."""

    def turn_latency(self, endpoint: str, seconds: float) -> None:
        """A ReplyOnPause turn: seconds from the detected pause to the reply's first audio frame sent."""

    def loop_lag(self, seconds: float) -> None:
        """How late the event loop woke a task that was due."""

    def sample(self, runtime: Runtime) -> None:
        """Read the gauges that are states rather than events (the pool, sockets, the drain)."""

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return b""


class PrometheusMetrics(Metrics):
    """The metrics in a ``CollectorRegistry`` of their own (one per runtime)."""

    available = True

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess_dir()
        # In multiprocess mode the values live in files; the registry they are made in is
        # never exposed (its values would be this process's alone).
        self._own = CollectorRegistry(auto_describe=True)
        if self.multiprocess:
            from prometheus_client import multiprocess

            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry, path=self.multiprocess)
        else:
            self.registry = self._own
        reg = self._own

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=reg)

        def gauge(name: str, doc: str, *labels: str, mode: Literal["livesum", "liveall"] = "livesum") -> Gauge:
            # livesum: the sum over the workers alive; liveall: one sample per worker (a ``pid`` label).
            return Gauge(name, doc, labels, registry=reg, multiprocess_mode=mode)

        def histogram(name: str, doc: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=reg)

        # One line each; docs/deploy.md explains them.
        self._live = gauge("rtcstream_live_sessions", "Sessions admitted and not yet ended.", "endpoint")
        self._admissions = counter("rtcstream_admissions", "Offers admitted: a slot taken.", "endpoint")
        self._refusals = counter("rtcstream_refusals", "Offers refused, by reason.", "endpoint", "reason")
        self._socket_refusals = counter("rtcstream_socket_refusals", "Websockets refused, by close code.", "reason")
        self._ended = counter("rtcstream_sessions_ended", "Admitted sessions ended, by reason.", "endpoint", "reason")
        self._media_errors = counter("rtcstream_media_errors", "Sessions ended by media.", "endpoint", "reason")
        self._turns = histogram("rtcstream_turn_latency_seconds", TURN_DOC, TURN_LATENCY_BUCKETS, "endpoint")
        self._lag = histogram("rtcstream_event_loop_lag_seconds", LAG_DOC, LOOP_LAG_BUCKETS)
        self._lag_last = gauge("rtcstream_event_loop_lag_last_seconds", "The last lag sample.", mode="liveall")
        self._pool_threads = gauge("rtcstream_pool_threads", "Threads for sync user code, by state.", "state")
        self._pool_size = gauge("rtcstream_pool_size", "WORKER_THREADS: threads busy at once at most.")
        self._pool_waiting = gauge("rtcstream_pool_waiting_calls", "Calls waiting for a thread.")
        self._stuck = gauge("rtcstream_pool_stuck_calls", "Released calls still running, by handler.", "handler")
        self._sockets = gauge("rtcstream_open_websockets", "rtcstream websockets open.")
        self._draining = gauge("rtcstream_draining", "1 while this process drains (SIGTERM).", mode="liveall")
        self._stuck_handlers: set[str] = set()

    def admitted(self, endpoint: str) -> None:
        self._admissions.labels(endpoint).inc()
        self._live.labels(endpoint).inc()

    def released(self, endpoint: str, ended: str | None) -> None:
        self._live.labels(endpoint).dec()
        if ended is not None:
            self._ended.labels(endpoint, ended).inc()
            if ended in MEDIA_ERRORS:
                self._media_errors.labels(endpoint, ended).inc()

    def refused(self, endpoint: str, reason: str) -> None:
        self._refusals.labels(endpoint, reason).inc()

    def socket_refused(self, reason: str) -> None:
        self._socket_refusals.labels(reason).inc()

    def turn_latency(self, endpoint: str, seconds: float) -> None:
        self._turns.labels(endpoint).observe(seconds)

    def loop_lag(self, seconds: float) -> None:
        self._lag.observe(seconds)
        self._lag_last.set(seconds)

    def sample(self, runtime: Runtime) -> None:
        pool = runtime.pool
        stats = pool.stats
        self._pool_threads.labels("busy").set(stats["threads"] - stats["idle"])
        self._pool_threads.labels("idle").set(stats["idle"])
        self._pool_threads.labels("released").set(stats["released"])
        self._pool_size.set(pool.size)
        self._pool_waiting.set(stats["waiting"])
        stuck = pool.stuck_by_owner()
        for handler in self._stuck_handlers - set(stuck):
            self._stuck.labels(handler).set(0)
        for handler, count in stuck.items():
            self._stuck.labels(handler).set(count)
        self._stuck_handlers |= set(stuck)
        self._sockets.set(runtime.open_sockets)
        self._draining.set(1 if runtime.draining else 0)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


def build_metrics() -> Metrics:
    """Prometheus metrics if prometheus_client is installed, else a ``Metrics`` that records nothing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        logger.info("prometheus_client is not installed: no metrics (pip install 'rtcstream[metrics]')")
        return Metrics()
    return PrometheusMetrics()


def forget_process(pid: int | None = None) -> None:
    """In multiprocess mode, drop the live gauges of process ``pid`` (this one by default): it has stopped."""
    path = multiprocess_dir()
    if not path:
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(pid if pid is not None else os.getpid(), path)
