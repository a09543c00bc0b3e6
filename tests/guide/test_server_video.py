"""User guide › Server-to-Client Only (video): Start plays a clip read with cv2.VideoCapture; a pure
red clip shows red in the page (OpenCV's BGR frames taken as such), and the stream ends with the clip."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import wait_state, wait_stats

from .pages import closed_reasons, colours, open_example, wait_colours

pytestmark = pytest.mark.browser


def test_start_streams_the_clip_in_its_colours(page, guide_site):
    open_example(page, guide_site, "server-video")
    page.wait_for_timeout(300)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.state") == "idle"  # nothing before Start
    page.click("#start")
    wait_state(page, "receiving")
    wait_stats(page, "s.video.received.frames > 10 && s.video.sent.packets === 0")
    frame = wait_colours(page, "p.red > 0.9 || p.blue > 0.9", timeout=15000)
    assert (frame["width"], frame["height"]) == (320, 240)
    assert frame["red"] > 0.9, f"the red clip arrives {'blue' if frame['blue'] > 0.9 else 'wrong'}: {frame}"
    screenshot(page, "guide-server-video")
    # The clip is 6 s long: the generator's loop ends with it, and so does the session.
    wait_state(page, "ended", timeout=30000)
    assert closed_reasons(page)[-1:] == ["stream_ended"]
    assert colours(page) is None or colours(page)["blue"] < 0.1
