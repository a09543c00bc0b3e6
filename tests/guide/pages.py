"""Open the guide's pages in Chromium and measure what they receive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("probe.js")


def open_example(page: Any, site: str, example: str, listen: bool = False) -> None:
    """Open the page of one example; with ``listen``, measure what its <audio> receives (probe.js)."""
    if listen:
        page.add_init_script(path=str(PROBE))
    page.goto(f"{site}/guide/{example}/")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    if listen:
        page.evaluate("() => window.__probeListen('rtc-stream [data-part=remote-audio]')")
