"""The <rtc-stream> element against the test endpoints in real browsers: limits, errors, reconnection.

These pages hold a hand-written element (no template tag, see widget.widget_page).
"""

from __future__ import annotations

import json
import time

import pytest

from .conftest import screenshot
from .widget import events, wait_state, wait_stats, widget_page

pytestmark = pytest.mark.browser


def start_until_admitted(page, deadline_s: float = 8.0) -> None:
    """Press start until the session is admitted: a seat frees when the server has closed the last session."""
    deadline = time.monotonic() + deadline_s
    while True:
        page.click("#w [data-part=start]")
        state = wait_state(page, ("listening", "error"), selector="#w")
        if state == "listening":
            return
        assert page.eval_on_selector("#w", "el => el.dataset.error") == "concurrency_limit"
        assert time.monotonic() < deadline, "the seat was not freed in time"


def test_stop_and_unload_free_the_only_seat(context, site):
    first = widget_page(context, site, "t-echo-one")
    first.click("#w [data-part=start]")
    wait_state(first, "listening", selector="#w")
    wait_stats(first, "s.audio.received.packets > 10", selector="#w")

    second = widget_page(context, site, "t-echo-one")
    second.click("#w [data-part=start]")
    wait_state(second, "error", selector="#w")
    assert second.eval_on_selector("#w", "el => el.dataset.error") == "concurrency_limit"
    assert "busy" in second.inner_text("#w [data-part=message]")
    screenshot(second, "widget-concurrency-limit")

    first.click("#w [data-part=stop]")  # sends `stop`: the server frees the seat
    wait_state(first, "idle", selector="#w")
    start_until_admitted(second)
    wait_stats(second, "s.audio.received.packets > 10", selector="#w")

    second.goto("about:blank")  # unloading sends `stop` and closes the connection
    start_until_admitted(first)


def test_time_limit_counts_down_and_explains(page, site):
    page.close()
    page = widget_page(page.context, site, "t-echo-timed")
    page.click("#w [data-part=start]")
    wait_state(page, "listening", selector="#w")
    assert page.inner_text("#w [data-part=timer]") in ("0:02", "0:01")
    wait_state(page, "idle", timeout=10000, selector="#w")
    closed = [e["detail"] for e in events(page) if e["type"] == "rtcstream:closed"]
    assert closed[-1]["reason"] == "time_limit"
    assert "Time limit reached" in page.inner_text("#w [data-part=message]")
    assert page.is_visible("#w [data-part=start]")


def test_unknown_endpoint_is_reported(page, site):
    page.close()
    page = widget_page(page.context, site, "no-such-endpoint")
    page.click("#w [data-part=start]")
    wait_state(page, "error", selector="#w")
    assert page.eval_on_selector("#w", "el => el.dataset.error") == "unknown_endpoint"
    assert "does not exist" in page.inner_text("#w [data-part=message]")


@pytest.mark.parametrize(
    ("error_name", "code", "words"),
    [("NotAllowedError", "permission_denied", "denied"), ("NotFoundError", "no_device", "No microphone")],
)
def test_media_errors_are_explained(context, site, error_name, code, words):
    context.add_init_script(
        f"navigator.mediaDevices.getUserMedia = async () => {{ throw new DOMException('refused', '{error_name}'); }};"
    )
    page = widget_page(context, site, "t-echo")
    page.click("#w [data-part=start]")
    wait_state(page, "error", selector="#w")
    assert page.eval_on_selector("#w", "el => el.dataset.error") == code
    assert words in page.inner_text("#w [data-part=message]")


@pytest.mark.chromium_only("page.route_web_socket: Selenium cannot hold or inject a websocket message")
def test_reconnects_once_after_the_socket_drops(context, site):
    routes = []

    def route(ws):
        server = ws.connect_to_server()
        routes.append((ws, server))

    page = widget_page(context, site, "t-echo")
    page.route_web_socket("**/ws/rtcstream/t-echo/", route)
    page.click("#w [data-part=start]")
    wait_state(page, "listening", selector="#w")
    first_session = page.eval_on_selector("#w", "el => el.session")

    ws, server = routes[0]
    server.close()
    ws.close(code=4000, reason="network drop")
    wait_state(page, "listening", timeout=20000, selector="#w")
    states = [e["detail"]["state"] for e in events(page) if e["type"] == "rtcstream:state"]
    assert "reconnecting" in states
    assert page.eval_on_selector("#w", "el => el.session") != first_session
    wait_stats(page, "s.audio.received.packets > 10", selector="#w")
    assert len(routes) == 2


@pytest.mark.chromium_only("page.route_web_socket: Selenium cannot hold or inject a websocket message")
def test_a_server_media_failure_is_shown_as_an_error(context, site):
    """The page is told when the server's media stops (tests/test_output_tracks.py makes the server do it)."""
    routes = []

    def route(ws):
        routes.append((ws, ws.connect_to_server()))

    page = widget_page(context, site, "t-echo")
    page.route_web_socket("**/ws/rtcstream/t-echo/", route)
    page.click("#w [data-part=start]")
    wait_state(page, "listening", selector="#w")
    ws, server = routes[0]
    # What the server sends when its output track fails (Session.fail with media_error), then it closes.
    message = "The server stopped sending media because of an internal error; the session has ended."
    ws.send(json.dumps({"type": "error", "code": "media_error", "message": message}))
    ws.send(json.dumps({"type": "closed", "reason": "media_error", "message": message}))
    wait_state(page, "error", selector="#w")
    assert "stopped sending media" in page.inner_text("#w [data-part=message]")
    assert page.get_attribute("#w [data-part=message]", "data-level") == "error"
    assert page.is_visible("#w [data-part=start]")
