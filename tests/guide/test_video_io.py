"""User guide › Input/Output Streaming: detection(image, conf_threshold) on the camera, with the
Confidence Threshold slider. The filled-in detection draws a red box over the top ``conf_threshold``
of the frame, so the slider's value is visible in the page's video, in the right colour."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import set_input, wait_state, wait_stats

from .pages import closed_reasons, open_example, wait_colours

pytestmark = pytest.mark.browser


def test_the_slider_sets_the_detection_box(page, guide_site):
    open_example(page, guide_site, "video-io")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "live")
    wait_stats(page, "s.video.sent.frames > 5 && s.video.received.frames > 5")
    # The slider starts at 0.30: the top 30 % of the frame is red (not blue: the colours are right).
    first = wait_colours(page, "p.red + p.blue > 0.2", timeout=8000)
    assert first["blue"] < 0.05, f"the red box arrives blue: {first}"
    first = wait_colours(page, "p.red > 0.2 && p.red < 0.45", timeout=3000)
    set_input(page, "#conf-threshold", 0.8)
    moved = wait_colours(page, "p.red > 0.7", timeout=8000)
    assert moved["red"] < 0.95 and moved["blue"] < 0.05, moved
    screenshot(page, "guide-video-io")
    # The guide's time_limit=10 ends the session.
    page.wait_for_function("() => (window.__rtcs || []).some((e) => e.type === 'rtcstream:closed')", timeout=20000)
    assert closed_reasons(page) == ["time_limit"]
