"""The {% webrtc %} widget on a page of its own (tests/browser/urls.py), in real Chromium against
daphne: a device switch that Stop overtakes, and getStats() polling only on request.

An init script stands between the widget and the browser where a test must hold a call back:
getUserMedia and RTCRtpSender.replaceTrack are held until the test releases them (GATES).
"""

from __future__ import annotations

from typing import Any

import pytest

from .widget import wait_state, wait_stats

pytestmark = pytest.mark.browser

WIDGET = "rtc-stream"
MIC_SELECT = "rtc-stream [data-part=mic-select]"

# Every track getUserMedia gives the page is kept in __tracks. With __hold[name] set, a call
# to getUserMedia or replaceTrack waits (in __held) until __release() runs it for real;
# __settled counts the released calls that have settled.
GATES = """
(() => {
  window.__tracks = [];
  window.__hold = { getUserMedia: false, replaceTrack: false };
  window.__held = [];
  window.__settled = 0;
  const hold = (name, call) => {
    if (!window.__hold[name]) return call();
    return new Promise((resolve, reject) => {
      window.__held.push(() => call().then(resolve, reject).finally(() => { window.__settled += 1; }));
    });
  };
  window.__release = () => { for (const run of window.__held.splice(0)) run(); };
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => hold("getUserMedia", () => open(constraints).then((stream) => {
    window.__tracks.push(...stream.getTracks());
    return stream;
  }));
  const replaceTrack = RTCRtpSender.prototype.replaceTrack;
  RTCRtpSender.prototype.replaceTrack = function (track) { return hold("replaceTrack", () => replaceTrack.call(this, track)); };
})();
"""


def open_widget(context: Any, site: str, slug: str = "t-echo", query: str = "") -> Any:
    page = context.new_page()
    page.on("console", lambda msg: print(f"[console.{msg.type}] {msg.text}"))
    page.goto(f"{site}/test-pages/widget/{slug}/{query}")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    return page


def wait_phase_idle(page: Any) -> None:
    """Wait until the stopped session is let go: the server confirmed, the peer connection closed."""
    page.wait_for_function("() => document.querySelector('rtc-stream').dataset.phase === 'idle'")


def other_microphone(page: Any) -> str:
    """The id of a microphone the session does not use (the fake devices are three)."""
    page.wait_for_function("s => document.querySelector(s).options.length >= 2", arg=MIC_SELECT)
    return page.eval_on_selector(MIC_SELECT, "s => [...s.options].find((o) => !o.selected).value")


def live_tracks(page: Any) -> list[str]:
    return page.evaluate("() => window.__tracks.filter((t) => t.readyState !== 'ended').map((t) => t.label)")


def assert_all_tracks_end(page: Any) -> None:
    try:
        page.wait_for_function(
            "() => window.__tracks.length > 0 && window.__tracks.every((t) => t.readyState === 'ended')", timeout=3000
        )
    except Exception:
        pytest.fail(f"tracks still live after Stop: {live_tracks(page)}")


@pytest.mark.parametrize("held", ["getUserMedia", "replaceTrack"])
def test_stop_during_a_device_switch_turns_the_new_device_off(context, site, held):
    """Stop pressed while the new microphone opens, or while it replaces the sent track: it ends too."""
    context.add_init_script(GATES)
    page = open_widget(context, site)
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening")
    other = other_microphone(page)
    page.evaluate("name => { window.__hold[name] = true; }", held)
    page.select_option(MIC_SELECT, other)
    page.wait_for_function("() => window.__held.length === 1")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
    page.evaluate("() => window.__release()")
    page.wait_for_function("() => window.__settled === 1")
    assert page.evaluate("() => window.__tracks.length") == 2  # the first microphone and the new one
    assert_all_tracks_end(page)
    wait_phase_idle(page)
    assert_all_tracks_end(page)


def test_a_device_switch_that_completes_keeps_one_microphone_live(context, site):
    context.add_init_script(GATES)
    page = open_widget(context, site)
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening")
    page.select_option(MIC_SELECT, other_microphone(page))
    page.wait_for_function("() => window.__tracks.length === 2 && window.__tracks[0].readyState === 'ended'")
    assert len(live_tracks(page)) == 1
    before = wait_stats(page, "s.audio.sent.packets > 0")["audio"]["sent"]["packets"]
    wait_stats(page, f"s.audio.sent.packets > {before + 25}")  # the new microphone is sent
    page.click("rtc-stream [data-part=stop]")
    assert_all_tracks_end(page)


# Count getStats() calls per peer connection, in the order the connections were made.
COUNT_GETSTATS = """
(() => {
  window.__getStats = [];
  const Peer = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Peer {
    constructor(...args) {
      super(...args);
      this.__index = window.__getStats.push(0) - 1;
    }
  };
  const getStats = Peer.prototype.getStats;
  Peer.prototype.getStats = function (...args) {
    if (this.__index !== undefined) window.__getStats[this.__index] += 1;
    return getStats.apply(this, args);
  };
})();
"""


def test_getstats_is_polled_only_when_the_page_asks(context, site):
    """Without stats_interval a live widget never calls getStats(); with it, it does, and writes the packet counts."""
    context.add_init_script(COUNT_GETSTATS)
    quiet = open_widget(context, site)
    quiet.click("rtc-stream [data-part=start]")
    wait_state(quiet, "listening")
    polled = open_widget(context, site, query="?stats_interval=200")
    assert polled.get_attribute(WIDGET, "stats-interval") == "200"  # the tag's stats_interval option
    polled.click("rtc-stream [data-part=start]")
    wait_state(polled, "listening")
    # Several polls of the second widget (some 200 ms apart) while the first stays live.
    polled.wait_for_function(
        """() => window.__getStats[0] >= 5
            && Number(document.querySelector('rtc-stream').dataset.packetsSent) > 0
            && Number(document.querySelector('rtc-stream').dataset.packetsReceived) > 0"""
    )
    assert quiet.eval_on_selector(WIDGET, "el => el.dataset.state") == "listening"
    assert quiet.evaluate("() => window.__getStats") == [0]
    assert quiet.eval_on_selector(WIDGET, "el => [el.dataset.packetsSent, el.dataset.packetsReceived]") == [None, None]
    polled.click("rtc-stream [data-part=stop]")
    quiet.click("rtc-stream [data-part=stop]")
