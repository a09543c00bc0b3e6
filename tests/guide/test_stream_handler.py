"""User guide › Stream Handler: the guide's EchoHandler (a Queue, a blocking emit) echoes the microphone."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import wait_state

from .conftest import MIC_BEEP_HZ
from .pages import open_example, wait_probe

pytestmark = pytest.mark.browser


def test_the_echo_handler_sends_the_microphone_back(page, guide_site):
    open_example(page, guide_site, "stream-handler", listen=True)
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening")
    # The microphone comes back: its beeps at their pitch are the loudest part.
    probe = wait_probe(page, "p.loudSeconds > 4", timeout=30000)
    assert abs(probe["pitch"] - MIC_BEEP_HZ) < 15, probe  # FFT bins of 5.9 Hz
    screenshot(page, "guide-stream-handler")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
