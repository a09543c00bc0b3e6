"""User guide › Reply on Pause: the response generator gets the whole utterance after a pause and
its audio (here the utterance itself) plays back in the page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import events, wait_state

from .pages import open_example, wait_probe

pytestmark = pytest.mark.browser


def event_names(page) -> list[str]:
    return [e["detail"]["name"] for e in events(page) if e["type"] == "rtcstream:event"]


def test_the_reply_comes_after_the_pause(page, guide_site):
    open_example(page, guide_site, "reply-on-pause", listen=True)
    # What had come back when the first turn started (read by the page itself, so on time).
    page.evaluate(
        """() => document.addEventListener("rtcstream:event", (ev) => {
            if (ev.detail.name === "started_talking" && window.__loudAtTalk === undefined)
                window.__loudAtTalk = window.__probe.loudSeconds;
        })"""
    )
    page.click("rtc-stream [data-part=start]")
    wait_state(page, ("listening", "hearing"))
    loud = page.wait_for_function("() => window.__loudAtTalk !== undefined && {s: window.__loudAtTalk}", timeout=20000)
    assert loud.json_value() == {"s": 0}, "audio came back before the user had finished a turn"
    # The reply is the utterance itself: over a second of it plays back, after the pause.
    heard = wait_probe(page, "p.loudSeconds > 1", timeout=30000)
    names = event_names(page)
    assert names.index("started_talking") < names.index("pause_detected") < names.index("response_starting"), names
    assert heard["peak"] > 0.05, heard
    screenshot(page, "guide-reply-on-pause")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
