"""Helpers that read the <rtc-stream> widget from a Playwright page."""

from __future__ import annotations

import json
import time
from typing import Any

WIDGET = "rtc-stream"


def stats(page: Any, selector: str = WIDGET) -> dict[str, Any]:
    """Return the widget's getStats() summary (see RtcStream.stats in rtcstream.js)."""
    return page.eval_on_selector(selector, "el => el.stats()")


def wait_stats(page: Any, condition: str, timeout: float = 20000, selector: str = WIDGET) -> dict[str, Any]:
    """Wait until ``condition`` (a JS expression over ``s``, the stats summary) holds; return those stats.

    wait_for_function does not await a promise its predicate returns, so each
    poll starts a getStats() and tests the result of the previous one.
    """
    page.evaluate("() => { window.__rtcsStats = null; }")
    handle = page.wait_for_function(
        f"""(selector) => {{
            const el = document.querySelector(selector);
            if (!el || !el.stats) return false;
            el.stats().then((fresh) => {{ window.__rtcsStats = fresh; }});
            const s = window.__rtcsStats;
            return s && ({condition}) ? s : false;
        }}""",
        arg=selector,
        timeout=timeout,
        polling=200,
    )
    return handle.json_value()


def wait_state(page: Any, states: str | tuple[str, ...], timeout: float = 20000, selector: str = WIDGET) -> str:
    """Wait until the widget's data-state is one of ``states``; return it."""
    wanted = [states] if isinstance(states, str) else list(states)
    page.wait_for_function(
        "([selector, wanted]) => wanted.includes(document.querySelector(selector)?.dataset.state)",
        arg=[selector, wanted],
        timeout=timeout,
    )
    return page.eval_on_selector(selector, "el => el.dataset.state")


def open_page(page: Any, url: str) -> None:
    """Go to ``url`` and wait until the widget's script has defined <rtc-stream>."""
    page.goto(url)
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")


def record_events(page: Any) -> None:
    """Keep every rtcstream:* event the page sees in window.__rtcs (call before starting)."""
    page.evaluate(
        """() => {
            window.__rtcs = [];
            for (const type of ["rtcstream:state", "rtcstream:event", "rtcstream:error", "rtcstream:closed", "rtcstream:output", "rtcstream:message"]) {
                document.addEventListener(type, (ev) => window.__rtcs.push({type, detail: ev.detail}));
            }
        }"""
    )


def events(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("() => window.__rtcs || []")


# Read the <video>'s current frame: its size, mean brightness and the fractions of cyan, red and blue
# pixels (null before its first frame).
PIXELS_JS = """video => {
            if (!video || !video.videoWidth) return null;
            const canvas = document.createElement("canvas");
            canvas.width = video.videoWidth; canvas.height = video.videoHeight;
            const g = canvas.getContext("2d");
            g.drawImage(video, 0, 0);
            const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
            let sum = 0, cyan = 0, red = 0, blue = 0;
            for (let i = 0; i < data.length; i += 4) {
                const [r, gr, b] = [data[i], data[i + 1], data[i + 2]];
                sum += r + gr + b;
                if (r < 90 && gr > 150 && b > 170) cyan += 1;
                if (r > 150 && gr < 90 && b < 90) red += 1;
                if (b > 150 && r < 90 && gr < 90) blue += 1;
            }
            const n = data.length / 4;
            return {width: canvas.width, height: canvas.height, mean: sum / (3 * n), cyan: cyan / n, red: red / n,
                    blue: blue / n};
        }"""


def video_pixels(page: Any, selector: str) -> dict[str, float] | None:
    """The <video>'s current frame (``PIXELS_JS``), drawn on a canvas; None before its first frame."""
    return page.eval_on_selector(selector, PIXELS_JS)


def wait_pixels(page: Any, selector: str, condition: str, timeout: float = 10000) -> dict[str, float]:
    """Wait until ``condition`` (a JS expression over ``p``, the video_pixels result) holds; return p."""
    handle = page.wait_for_function(
        f"""(selector) => {{
            const p = ({PIXELS_JS})(document.querySelector(selector));
            return p && ({condition}) ? p : false;
        }}""",
        arg=selector,
        timeout=timeout,
        polling=100,
    )
    return handle.json_value()


def set_input(page: Any, selector: str, value: float | str) -> None:
    """Set an input's value as a user would, firing input and change."""
    page.eval_on_selector(
        selector,
        """(el, value) => {
            el.value = value;
            el.dispatchEvent(new Event("input", {bubbles: true}));
            el.dispatchEvent(new Event("change", {bubbles: true}));
        }""",
        value,
    )


MARKUP = """
<rtc-stream id="{id}" class="rtcs" endpoint="{slug}" ws-path="{path}" mode="{mode}" modality="audio" {attrs}>
  <div class="rtcs-head"><span class="rtcs-label">{slug}</span>
    <span class="rtcs-status"><i class="rtcs-dot"></i><span data-part="state-text">Ready</span></span>
    <span class="rtcs-timer" data-part="timer" hidden></span></div>
  <canvas data-part="wave" width="320" height="60"></canvas>
  <div class="rtcs-controls">
    <button type="button" class="rtcs-button rtcs-primary" data-part="start">Start</button>
    <button type="button" class="rtcs-button" data-part="stop" hidden>Stop</button>
  </div>
  <p class="rtcs-message" data-part="message" hidden></p>
  <audio data-part="remote-audio" autoplay hidden></audio>
</rtc-stream>
"""


def widget_page(
    context: Any,
    site: str,
    slug: str,
    element_id: str = "w",
    *,
    attrs: str = "",
    before: str = "",
    mode: str = "send-receive",
    path: str | None = None,
) -> Any:
    """Open a site page and add a bare widget for ``slug`` to it (after the HTML ``before``).

    The page holds a hand-written element (no template tag), which is also how a
    site without Django templates would use the client.
    """
    page = context.new_page()
    page.on("console", lambda msg: print(f"[{element_id} console.{msg.type}] {msg.text}"))
    page.goto(site)
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    markup = MARKUP.format(id=element_id, slug=slug, attrs=attrs, mode=mode, path=path or f"/ws/rtcstream/{slug}/")
    page.evaluate("html => document.querySelector('main').insertAdjacentHTML('afterbegin', html)", before + markup)
    record_events(page)
    return page


class Frames:
    """The JSON messages a page sends and receives on its websockets, by socket URL."""

    def __init__(self, page: Any) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.sockets: list[Any] = []
        page.on("websocket", self._watch)

    def _watch(self, ws: Any) -> None:
        self.sockets.append(ws)
        ws.on("framesent", lambda payload: self.sent.append((ws.url, json.loads(payload))))
        ws.on("framereceived", lambda payload: self.received.append((ws.url, json.loads(payload))))

    def sent_types(self, url_part: str = "/ws/rtcstream/") -> list[str]:
        return [m["type"] for url, m in self.sent if url_part in url and "/outputs/" not in url]

    def received_types(self) -> list[str]:
        return [m["type"] for url, m in self.received if "/outputs/" not in url]


def wait_until(page: Any, condition: Any, timeout: float = 10.0, what: str = "the condition") -> None:
    """Let the page run until ``condition()`` (a Python callable) is true, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


# Every 25 ms: the widget's state and the level of what the page hears (its reply meter, an
# AnalyserNode on the reply's stream: WebRTC's remote track, or the websocket's playback). Read
# window.__samples ([time, state, level]); stop with clearInterval(window.__sampler).
SAMPLE_REPLY = """() => {
  window.__samples = [];
  const el = document.querySelector("rtc-stream");
  const meter = el.querySelector("[data-part=reply-meter]");
  window.__sampler = setInterval(() => window.__samples.push([performance.now(), el.dataset.state, meter.value]), 25);
}"""


def seat_passes_on_stop(first: Any, second: Any, timeout: float = 40000) -> None:
    """``first`` holds a one-seat endpoint's seat: ``second``'s Start is refused (concurrency_limit), then
    gets in, over the websocket, once ``first`` has pressed Stop. ``second`` is left live."""
    second.click("rtc-stream [data-part=start]")
    wait_state(second, "error", timeout=timeout)
    assert second.eval_on_selector("rtc-stream", "el => el.dataset.error") == "concurrency_limit"
    first.click("rtc-stream [data-part=stop]")
    wait_state(first, "idle")
    second.click("rtc-stream [data-part=start]")
    wait_state(second, "listening", timeout=timeout)
    assert second.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "websocket"
