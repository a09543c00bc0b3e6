"""Open the guide's pages in Chromium and measure what they receive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.widget import events, record_events, video_pixels, wait_pixels

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


def wait_colours(page: Any, condition: str, timeout: float = 10000, selector: str = REMOTE_VIDEO) -> dict[str, float]:
    """Wait until ``condition`` (JS over ``p``: {width, height, red, blue, ...} of the <video>'s frame) holds."""
    return wait_pixels(page, selector, condition, timeout)


def colours(page: Any, selector: str = REMOTE_VIDEO) -> dict[str, float] | None:
    return video_pixels(page, selector)


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
