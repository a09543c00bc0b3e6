"""Open the guide's pages in Chromium and measure what they receive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.widget import events, record_events

PROBE = Path(__file__).with_name("probe.js")
REMOTE_VIDEO = "rtc-stream [data-part=remote-video]"


def open_example(page: Any, site: str, example: str, listen: bool = False) -> None:
    """Open the page of one example; with ``listen``, measure what its <audio> receives (probe.js)."""
    if listen:
        page.add_init_script(path=str(PROBE))
    page.goto(f"{site}/guide/{example}/")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    if listen:
        page.evaluate("() => window.__probeListen('rtc-stream [data-part=remote-audio]')")
    record_events(page)


# Classify the <video>'s current frame: the fraction of red, and of blue, pixels.
COLOURS_JS = """video => {
    if (!video || !video.videoWidth) return null;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const g = canvas.getContext("2d");
    g.drawImage(video, 0, 0);
    const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let red = 0, blue = 0;
    for (let i = 0; i < data.length; i += 4) {
        const [r, gr, b] = [data[i], data[i + 1], data[i + 2]];
        if (r > 150 && gr < 90 && b < 90) red += 1;
        if (b > 150 && r < 90 && gr < 90) blue += 1;
    }
    const n = data.length / 4;
    return {width: canvas.width, height: canvas.height, red: red / n, blue: blue / n};
}"""


def wait_colours(page: Any, condition: str, timeout: float = 10000, selector: str = REMOTE_VIDEO) -> dict[str, float]:
    """Wait until ``condition`` (JS over ``p``: {width, height, red, blue} of the <video>'s frame) holds."""
    handle = page.wait_for_function(
        f"(selector) => {{ const p = ({COLOURS_JS})(document.querySelector(selector)); return p && ({condition}) ? p : false; }}",
        arg=selector,
        timeout=timeout,
        polling=100,
    )
    return handle.json_value()


def colours(page: Any, selector: str = REMOTE_VIDEO) -> dict[str, float] | None:
    return page.eval_on_selector(selector, COLOURS_JS)


def probe(page: Any) -> dict[str, Any]:
    """What the page's <audio> has received so far (see probe.js)."""
    return page.evaluate("() => window.__probe")


def wait_probe(page: Any, condition: str, timeout: float = 20000) -> dict[str, Any]:
    """Wait until ``condition`` (JS over ``p``, window.__probe) holds; return the probe."""
    return page.wait_for_function(
        f"() => {{ const p = window.__probe; return ({condition}) && p; }}", timeout=timeout
    ).json_value()


def closed_reasons(page: Any) -> list[str]:
    return [e["detail"]["reason"] for e in events(page) if e["type"] == "rtcstream:closed"]
