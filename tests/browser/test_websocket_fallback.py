"""The widget's fallback from WebRTC to audio over the websocket (transport="auto", the default), where UDP
cannot pass: the server runs in a network namespace whose policy routing drops every UDP datagram
(tests/netns.py's drop_udp), and the browser reaches it over TCP alone (a forwarder on localhost, so the
page is a secure context). WebRTC's ICE cannot connect; within FALLBACK_MS (5 s) of the answer the widget
hangs that session up and carries a reply-on-pause conversation over the websocket. The endpoint has one
seat: the fallback's session gets it only if the WebRTC attempt gave it back, and so does a second visitor
once the first presses Stop."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

import pytest

from tests.daphne import OUTPUT, free_port, migrate, worker
from tests.netns import drop_udp, forward_tcp, hosts, require_netns
from tests.polling import settled

from .widget import events, record_events, seat_passes_on_stop, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.netns]

SLUG = "t-reply-echo-one"
FALLBACK_S = 5.0  # controller.js's FALLBACK_MS

RECORD = """() => {
  window.__transports = [];
  document.addEventListener("rtcstream:transport", (ev) => window.__transports.push({ ...ev.detail, t: performance.now() }));
  document.querySelector("rtc-stream [data-part=start]").addEventListener("click", () => { window.__clicked = performance.now(); });
}"""


@pytest.fixture(scope="module")
def udp_blocked_site() -> Iterator[tuple[str, str]]:
    """The test site in a namespace that drops UDP, served on localhost through a TCP forwarder; yields its
    URL and its database."""
    require_netns()
    name = "daphne-udp-blocked"
    database = OUTPUT / f"{name}.sqlite3"
    database.unlink(missing_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "RTCSTREAM_TEST_DB": str(database)}
    for variable in ("REDIS_URL", "DATABASE_URL"):
        env.pop(variable, None)
    migrate(env)
    with hosts(["server"]) as (_bridge, made):
        prefix, address = made["server"]
        drop_udp(prefix[-1])
        # Any port is free in the new namespace.
        with worker(env, name, host=address, port=free_port(), prefix=prefix) as (url, _process):
            port = int(url.rsplit(":", 1)[1])
            with forward_tcp((address, port)) as local_port:
                yield f"http://127.0.0.1:{local_port}", str(database)


def sessions(database: str) -> list[tuple[str | None, str | None, str | None]]:
    """(connected_at, ended_at, end_reason) of each session the server recorded, oldest first."""
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT connected_at, ended_at, end_reason FROM rtcstream_streamsession ORDER BY started_at"
        ).fetchall()


def wait_rows(database: str, condition, timeout: float = 20.0):
    """The sessions once ``condition`` holds for them, or at the deadline."""
    return settled(lambda: sessions(database), condition, timeout)


def open_widget(page, site: str) -> None:
    page.on("console", lambda msg: print(f"[console.{msg.type}] {msg.text}"))  # a module that failed to load says so
    page.goto(f"{site}/test-pages/widget/{SLUG}/?csp=1")  # transport: auto, the default
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    record_events(page)
    page.evaluate(RECORD)


def test_webrtc_without_udp_falls_back_to_the_websocket_and_the_seat_follows(context, udp_blocked_site):
    site, database = udp_blocked_site
    before = len(sessions(database))  # the module's server is shared by the browsers' tests
    first = context.new_page()
    open_widget(first, site)
    first.click("rtc-stream [data-part=start]")
    wait_state(first, "listening", timeout=40000)
    transports = first.evaluate("() => window.__transports")
    assert [(t["transport"], t["fallback"]) for t in transports] == [("websocket", True)]
    # The answer comes within a second or so of the click; then FALLBACK_S, the hang-up (its `closed`), a new session.
    took = (transports[0]["t"] - first.evaluate("() => window.__clicked")) / 1000
    assert FALLBACK_S - 0.5 < took < FALLBACK_S + 10, took
    print(f"Start -> live over the websocket, after WebRTC gave up: {took:.1f} s")
    assert first.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "websocket"
    assert "the audio goes over the websocket" in first.inner_text("rtc-stream [data-part=message]")
    # The conversation, carried by the fallback: the reply is heard in the page.
    first.wait_for_function(
        "() => (window.__rtcs || []).some((e) => e.type === 'rtcstream:event' && e.detail.name === 'playback_done')",
        timeout=40000,
    )
    names = [e["detail"]["name"] for e in events(first) if e["type"] == "rtcstream:event"]
    assert names.index("pause_detected") < names.index("response_starting") < names.index("playback_done"), names
    first.wait_for_function(
        "() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.05", timeout=20000
    )
    # The WebRTC attempt never connected and was hung up (its seat given back: the fallback got the only one);
    # the ledger says why.
    rows = sessions(database)[before:]
    assert len(rows) == 2, rows
    assert rows[0][0] is None and rows[0][2] == "fell_back", rows
    assert rows[1][0] is not None and rows[1][1] is None, rows

    # A second visitor finds the one seat taken (by the fallback's session)...
    second = context.new_page()
    open_widget(second, site)
    # ...and gets it once the first presses Stop, falling back in turn.
    seat_passes_on_stop(first, second)
    second.click("rtc-stream [data-part=stop]")
    wait_state(second, "idle")
    rows = wait_rows(database, lambda rows: all(ended for _, ended, _ in rows))[before:]
    assert all(ended for _, ended, _ in rows), rows  # no session left holding a seat
    assert sum(1 for connected, _, _ in rows if connected) == 2, rows  # the two fallbacks; no WebRTC one connected


def test_stop_while_webrtc_is_still_trying_leaves_nothing_running(page, udp_blocked_site):
    site, database = udp_blocked_site
    before = len(sessions(database))
    open_widget(page, site)
    page.click("rtc-stream [data-part=start]")
    # The offer has been answered (the server's session is negotiating), and WebRTC cannot connect.
    page.wait_for_function("() => (window.__rtcs || []).length && document.querySelector('rtc-stream').dataset.session")
    wait_rows(database, lambda rows: len(rows) > before)
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
    rows = wait_rows(database, lambda rows: all(ended for _, ended, _ in rows[before:]))
    assert [reason for _, _, reason in rows[before:]] == ["client_stop"], rows
    # The fallback's deadline passes: nothing starts again behind the visitor's back.
    page.wait_for_timeout((FALLBACK_S + 1) * 1000)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.state") == "idle"
    assert page.evaluate("() => window.__transports") == []
    assert len(sessions(database)) == before + 1
