"""The audio-video modality through the real widget on the call demo page.

``check_call_demo`` is a plain function of a page and the site, so another browser's
suite can run it as it is.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import screenshot
from .widget import open_page, record_events, wait_state, wait_stats

pytestmark = pytest.mark.browser

REMOTE = "rtc-stream [data-part=remote-video]"

# The colour of the remote video's top border, which the demo's handler draws (RGB, averaged across).
BORDER_JS = """video => {
    if (!video.videoWidth) return null;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const g = canvas.getContext("2d");
    g.drawImage(video, 0, 0);
    const row = g.getImageData(video.videoWidth / 4, 2, video.videoWidth / 2, 1).data;
    const rgb = [0, 0, 0];
    for (let i = 0; i < row.length; i += 4) for (let c = 0; c < 3; c++) rgb[c] += row[i + c];
    return rgb.map((v) => v / (row.length / 4));
}"""


def wait_border(page: Any, rgb: tuple[int, int, int], timeout: float = 20000) -> list[float]:
    """Wait until the remote video's top border has colour ``rgb`` (within 40 per channel)."""
    handle = page.wait_for_function(
        f"""([selector, want]) => {{
            const rgb = ({BORDER_JS})(document.querySelector(selector));
            return rgb && rgb.every((v, i) => Math.abs(v - want[i]) < 40) ? rgb : false;
        }}""",
        arg=[REMOTE, list(rgb)],
        timeout=timeout,
        polling=50,
    )
    return handle.json_value()


def check_call_demo(page: Any, site: str, shot: str = "call") -> None:
    """Camera and microphone go up; the processed camera and the tone answer come back, shown together.

    ``shot`` names the screenshot taken while the call is live (test-output/screenshots/).
    """
    open_page(page, f"{site}/demos/call/")
    record_events(page)
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "live")
    # Both ways, both kinds: the fake camera and microphone go up, decoded video comes back.
    wait_stats(page, "s.audio.sent.packets > 50 && s.video.sent.frames > 10 && s.video.received.frames > 10")
    # One widget shows the camera, the remote video, and both meters.
    local = page.eval_on_selector("rtc-stream [data-part=local-video]", "v => v.srcObject?.getVideoTracks().length")
    assert local == 1
    page.wait_for_function("() => document.querySelector('rtc-stream [data-part=mic-meter]').value > 0.02")
    # The handler draws on the remote video: green while it hears the speech, blue while it answers.
    wait_border(page, (40, 200, 80))
    wait_border(page, (0, 90, 255))
    # The answer is heard: audio energy arrives and the reply meter moves.
    wait_stats(page, "s.audio.received.energy > 0.01", timeout=20000)
    page.wait_for_function("() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.02")
    # The server's audio and video arrive in one MediaStream: the browser plays them in sync.
    kinds = page.eval_on_selector(REMOTE, "v => v.srcObject.getTracks().map((t) => t.kind).sort()")
    assert kinds == ["audio", "video"], kinds
    screenshot(page, shot)
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


def test_call_demo_shows_camera_reply_video_and_both_meters(page, site):
    check_call_demo(page, site)


def check_switching_the_microphone_keeps_the_camera(page: Any, site: str) -> None:
    """With audio and video, a device switch replaces that kind's track only: the camera keeps flowing."""
    open_page(page, f"{site}/demos/call/")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "live")
    local = "rtc-stream [data-part=local-video]"
    page.eval_on_selector(local, "v => { window.__before = v.srcObject.getTracks(); }")
    mic = "rtc-stream [data-part=mic-select]"
    page.wait_for_function("s => document.querySelector(s).options.length >= 2", arg=mic)
    page.select_option(mic, page.eval_on_selector(mic, "s => [...s.options].find((o) => !o.selected).value"))
    page.wait_for_function(
        """(selector) => {
            const now = document.querySelector(selector).srcObject.getTracks();
            const [audio, video] = ["audio", "video"].map((k) => window.__before.find((t) => t.kind === k));
            const fresh = now.find((t) => t.kind === "audio");
            return now.length === 2 && now.includes(video) && video.readyState === "live"
                && fresh && fresh !== audio && audio.readyState === "ended";
        }""",
        arg=local,
    )
    before = wait_stats(page, "s.video.sent.frames > 0 && s.audio.sent.packets > 0")
    video, audio = before["video"]["sent"]["frames"], before["audio"]["sent"]["packets"]
    wait_stats(page, f"s.video.sent.frames > {video + 15} && s.audio.sent.packets > {audio + 25}")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


@pytest.mark.chromium_only(
    "Firefox here has one microphone (media.audio_loopback_dev, a PulseAudio source): none to switch to"
)
def test_switching_the_microphone_keeps_the_camera(page, site):
    check_switching_the_microphone_keeps_the_camera(page, site)
