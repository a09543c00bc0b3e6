"""The <rtc-stream> element's life cycle in real browsers against daphne: moves in the DOM,
Stop while connecting, quick restarts, focus, and a signalling socket that cannot open.

The signalling or outputs socket is routed through the test where a test must hold a
server message back (to stop at a given step, or to deliver a late output).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from .widget import Frames, events, set_input, wait_state, wait_stats, wait_until, widget_page

pytestmark = pytest.mark.browser

W = "#w"


def phase(page) -> str:
    return page.eval_on_selector(W, "el => el.dataset.phase")


def focused_part(page) -> str | None:
    return page.evaluate("() => document.activeElement?.dataset?.part ?? null")


def errors(page) -> list[dict[str, Any]]:
    return [e["detail"] for e in events(page) if e["type"] == "rtcstream:error"]


def assert_quietly_idle(page) -> None:
    """Back to idle with nothing shown as an error."""
    page.wait_for_function("() => document.querySelector('#w').dataset.phase === 'idle'")
    assert page.eval_on_selector(W, "el => el.dataset.state") == "idle"
    assert page.eval_on_selector(W, "el => el.dataset.error ?? null") is None
    assert page.is_hidden(f"{W} [data-part=message]"), page.inner_text(f"{W} [data-part=message]")
    assert errors(page) == []
    assert page.is_visible(f"{W} [data-part=start]")
    assert page.is_hidden(f"{W} [data-part=stop]")


class Relay:
    """Route one websocket path through the test: page -> server as is; server -> page held
    from the first message of type ``hold`` on (until ``release``). Records both directions."""

    def __init__(self, hold: str | None = None) -> None:
        self.hold = hold
        self.to_server: list[dict[str, Any]] = []
        self.from_server: list[dict[str, Any]] = []
        self.held: list[str] = []
        self.routes: list[Any] = []
        self.server_closed = False

    def route(self, ws) -> None:
        server = ws.connect_to_server()
        self.routes.append(ws)

        def up(message: str) -> None:
            self.to_server.append(json.loads(message))
            server.send(message)

        def down(message: str) -> None:
            msg = json.loads(message)
            self.from_server.append(msg)
            if self.held or msg["type"] == self.hold:
                self.held.append(message)
            else:
                ws.send(message)

        def server_closes(code: int | None, reason: str | None) -> None:
            self.server_closed = True
            try:
                ws.close(code=code if code and code >= 3000 or code == 1000 else 1000, reason=reason or "")
            except Exception:  # the page closed its side first
                pass

        ws.on_message(up)
        server.on_message(down)
        server.on_close(server_closes)

    def types_sent(self) -> list[str]:
        return [m["type"] for m in self.to_server]

    def closed_by_server(self) -> list[str]:
        return [m["reason"] for m in self.from_server if m["type"] == "closed"]


@pytest.mark.chromium_only("page.on('websocket'): Selenium does not show websocket frames")
def test_moving_the_element_keeps_its_session_and_one_listener_each(context, site):
    page = widget_page(
        context,
        site,
        "t-echo",
        attrs='inputs="#gain" trigger="#again"',
        before='<input type="range" id="gain" min="0" max="2" step="0.1" value="1">'
        '<button type="button" id="again">Again</button><div id="elsewhere"></div>',
    )
    frames = Frames(page)
    page.click(f"{W} [data-part=start]")
    wait_state(page, "listening", selector=W)
    session = page.eval_on_selector(W, "el => el.session")

    # Two plain moves (disconnected, then connected again) and one moveBefore().
    page.evaluate("() => document.querySelector('#elsewhere').append(document.querySelector('#w'))")
    page.evaluate("() => document.querySelector('main').prepend(document.querySelector('#w'))")
    page.evaluate(
        "() => { const m = document.querySelector('#elsewhere'); m.moveBefore(document.querySelector('#w'), null); }"
    )
    assert page.eval_on_selector(W, "el => el.session") == session
    assert page.eval_on_selector(W, "el => el.dataset.state") == "listening"
    before = wait_stats(page, "s.audio.received.packets > 10", selector=W)["audio"]["received"]["packets"]
    wait_stats(page, f"s.audio.received.packets > {before + 25}", selector=W)  # media still flows

    set_input(page, "#gain", 0.5)
    wait_until(page, lambda: any(m.get("values") == [0.5] for _, m in frames.sent), what="the inputs message")
    page.click("#again")
    page.click(f"{W} [data-part=stop]")
    wait_until(page, lambda: "stop" in frames.sent_types(), what="the stop message")
    assert_quietly_idle(page)
    # Messages on one socket arrive in order: by `stop`, every doubled send would have been seen.
    sent = frames.sent_types()
    assert sent.count("offer") == 1, sent
    assert sent.count("trigger") == 1, sent
    assert sent.count("stop") == 1, sent
    assert sent.count("inputs") == 2, sent  # the slider's change, and the values sent with the trigger
    assert [m["reason"] for _, m in frames.received if m["type"] == "closed"] == ["client_stop"]
    assert [e["detail"]["state"] for e in events(page) if e["type"] == "rtcstream:state"].count("connecting") == 1


@pytest.mark.chromium_only("page.on('websocket'): Selenium does not show websocket frames")
def test_removing_the_element_ends_its_session(context, site):
    page = widget_page(context, site, "t-echo")
    frames = Frames(page)
    page.click(f"{W} [data-part=start]")
    wait_state(page, "listening", selector=W)
    page.evaluate("() => { window.__w = document.querySelector('#w'); window.__w.remove(); }")
    wait_until(page, lambda: "stop" in frames.sent_types(), what="the stop message")
    page.wait_for_function("() => window.__w.dataset.phase === 'idle'")
    assert "client_stop" in [m["reason"] for _, m in frames.received if m["type"] == "closed"]


DELAYED_MEDIA = """
(() => {
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__lateTracks = [];
  // Count the page's animation frames; __nextFrames(n) waits n frames without counting.
  const raf = window.requestAnimationFrame.bind(window);
  window.__frames = 0;
  window.requestAnimationFrame = (cb) => { window.__frames += 1; return raf(cb); };
  window.__nextFrames = (n) => new Promise((resolve) => { const step = () => (n-- > 0 ? raf(step) : resolve()); raf(step); });
  navigator.mediaDevices.getUserMedia = (constraints) => new Promise((resolve, reject) => {
    window.__mediaAsked = true;
    window.__releaseMedia = () => open(constraints).then((stream) => {
      window.__lateTracks.push(...stream.getTracks());
      resolve(stream);
    }, reject);
  });
})();
"""


@pytest.mark.chromium_only("page.route_web_socket: Selenium cannot hold or inject a websocket message")
@pytest.mark.parametrize("step", ["session", "media", "answer"])
def test_stop_while_connecting_is_not_an_error(context, site, step):
    """Stop at each step of the set-up: waiting for the session, for the microphone, for the answer."""
    if step == "media":
        context.add_init_script(DELAYED_MEDIA)
    relay = Relay(hold={"session": "session", "answer": "answer"}.get(step))
    page = widget_page(context, site, "t-echo")
    page.route_web_socket("**/ws/rtcstream/t-echo/", relay.route)
    page.click(f"{W} [data-part=start]")
    if step == "media":
        page.wait_for_function("() => window.__mediaAsked === true")
    else:
        wait_until(page, lambda: relay.held, what=f"the {step} message")
    assert page.eval_on_selector(W, "el => el.dataset.state") == "connecting"
    assert focused_part(page) == "stop"

    page.click(f"{W} [data-part=stop]")
    assert focused_part(page) == "start"
    assert_quietly_idle(page)
    if step == "media":
        # The microphone the browser grants after Stop is closed at once, and no offer follows.
        page.evaluate("() => window.__releaseMedia()")
        page.wait_for_function(
            "() => window.__lateTracks.length > 0 && window.__lateTracks.every((t) => t.readyState === 'ended')"
        )
        # ... and the meters' animation does not start again.
        assert (
            page.evaluate(
                "async () => { const n = window.__frames; await window.__nextFrames(5); return window.__frames - n; }"
            )
            == 0
        )
    # The server ended the session: it answered `stop` with `closed` and closed the socket.
    wait_until(page, lambda: relay.server_closed, what="the server to close the socket")
    assert relay.closed_by_server() == ["client_stop"]
    assert relay.types_sent().count("stop") == 1
    assert ("offer" in relay.types_sent()) == (step == "answer")
    assert_quietly_idle(page)


@pytest.mark.chromium_only("page.route_web_socket: Selenium cannot hold or inject a websocket message")
def test_quick_restart_shows_only_the_new_sessions_outputs(context, site):
    """Outputs of the first session that arrive after the second started are dropped; focus follows the buttons."""
    page = widget_page(
        context,
        site,
        "t-level",
        mode="send",
        attrs='outputs="#levels" render="append"',
        before='<div id="levels"></div>',
    )
    frames = Frames(page)
    outputs = Relay()
    late: list[str] = []

    def route_outputs(ws) -> None:
        if outputs.routes:  # the second session's outputs socket: straight through
            ws.connect_to_server()
            return
        server = ws.connect_to_server()
        outputs.routes.append(ws)

        def down(message: str) -> None:
            msg = json.loads(message)
            outputs.from_server.append(msg)
            if msg.get("seq", 0) > 3:
                late.append(message)  # held back, delivered once the next session runs
            else:
                ws.send(message)

        server.on_message(down)

    page.route_web_socket("**/ws/rtcstream/outputs/**", route_outputs)
    page.click(f"{W} [data-part=start]")
    assert focused_part(page) == "stop"
    wait_until(page, lambda: len(late) >= 2, timeout=15, what="outputs of the first session")
    first = page.eval_on_selector(W, "el => el.session")

    page.click(f"{W} [data-part=stop]")
    assert focused_part(page) == "start"
    page.keyboard.press("Enter")  # focus is on Start: restart at once
    assert focused_part(page) == "stop"
    page.wait_for_function("() => document.querySelector('#w').session")
    second = page.eval_on_selector(W, "el => el.session")
    assert second and second != first
    page.wait_for_function(
        "s => window.__rtcs.filter((e) => e.type === 'rtcstream:output' && e.detail.session === s).length >= 2",
        arg=second,
        timeout=20000,
    )
    for message in late:
        try:
            outputs.routes[0].send(message)
        except Exception:  # the widget closed the first outputs socket: nothing can arrive
            pass
    page.wait_for_function(
        "s => window.__rtcs.filter((e) => e.type === 'rtcstream:output' && e.detail.session === s).length >= 6",
        arg=second,
        timeout=20000,
    )
    # The outputs shown and what they rendered, read in one go: the second session goes on sending (a CI run
    # once read four more rendered than it had read events a moment before).
    shown, rendered = page.evaluate(
        "() => [window.__rtcs.filter((e) => e.type === 'rtcstream:output').map((e) => e.detail),"
        " document.querySelector('#levels').children.length]"
    )
    assert [o["seq"] for o in shown if o["session"] == first] == [1, 2, 3]
    after = [o for o in shown if o["session"] != first]
    assert all(o["session"] == second for o in after), after
    assert [o["seq"] for o in after] == list(range(1, len(after) + 1))  # in order, once each, none stale
    assert rendered == len(shown)

    page.click(f"{W} [data-part=stop]")
    wait_until(page, lambda: frames.sent_types().count("stop") == 2, what="the second stop")
    assert_quietly_idle(page)
    sent = frames.sent_types()
    assert sent.count("offer") == 2 and sent.count("stop") == 2, sent


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that takes TCP connections and never answers the websocket handshake."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_stop_while_the_socket_opens_is_not_an_error(context, site):
    with silent_server() as port:
        page = widget_page(context, site, "t-echo", path=f"ws://127.0.0.1:{port}/ws/rtcstream/t-echo/")
        page.click(f"{W} [data-part=start]")
        assert page.eval_on_selector(W, "el => el.dataset.state") == "connecting"
        assert focused_part(page) == "stop"
        page.click(f"{W} [data-part=stop]")
        assert focused_part(page) == "start"
        assert_quietly_idle(page)


def test_a_server_that_never_answers_ends_in_a_timeout(context, site):
    """Set-up never waits for ever: a handshake that never completes fails after 10 s."""
    with silent_server() as port:
        page = widget_page(context, site, "t-echo", path=f"ws://127.0.0.1:{port}/ws/rtcstream/t-echo/")
        page.click(f"{W} [data-part=start]")
        wait_state(page, "error", timeout=20000, selector=W)
        assert page.eval_on_selector(W, "el => el.dataset.error") == "timeout"
        assert "did not answer" in page.inner_text(f"{W} [data-part=message]")
        assert phase(page) == "idle"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_only_server() -> Iterator[int]:
    """A site with no websocket route at all (plain HTTP, as runserver without daphne): the handshake gets a 404."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where", ["server down", "no route"])
def test_a_socket_that_cannot_open_names_the_likely_causes(context, site, where):
    with contextlib.ExitStack() as stack:
        port = _closed_port() if where == "server down" else stack.enter_context(http_only_server())
        path = f"ws://127.0.0.1:{port}/ws/rtcstream/t-echo/"
        check_socket_unavailable(context, site, path)


def check_socket_unavailable(context, site, path: str) -> None:
    page = widget_page(context, site, "t-echo", path=path)
    page.click(f"{W} [data-part=start]")
    wait_state(page, "error", selector=W)
    assert page.eval_on_selector(W, "el => el.dataset.error") == "socket_unavailable"
    message = page.inner_text(f"{W} [data-part=message]")
    assert path in message
    for cause in ("daphne", "asgi.py", "rtcstream.signalling.routing.websocket_urlpatterns", "CHANNEL_LAYERS"):
        assert cause in message, message
    assert phase(page) == "idle"
    assert page.is_visible(f"{W} [data-part=start]")
