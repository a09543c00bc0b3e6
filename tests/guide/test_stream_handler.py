"""User guide › Stream Handler: the guide's EchoHandler (a Queue, a blocking emit) echoes the microphone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import wait_state

from . import media
from .pages import open_example

pytestmark = pytest.mark.browser
MIC_HZ = 880.0


@pytest.fixture(scope="module")
def fake_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.beeps(tmp_path_factory.mktemp("mic") / "beeps.wav", MIC_HZ)


def test_the_echo_handler_sends_the_microphone_back(page, guide_site):
    open_example(page, guide_site, "stream-handler", listen=True)
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening")
    # The beeps come back: seconds of loud audio at the microphone's pitch.
    probe = page.wait_for_function("() => window.__probe.loudSeconds > 2 && window.__probe", timeout=20000).json_value()
    assert abs(probe["pitch"] - MIC_HZ) < 15, probe  # FFT bins of 5.9 Hz
    screenshot(page, "guide-stream-handler")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
