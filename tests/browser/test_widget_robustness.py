"""The {% webrtc %} widget on a page of its own (tests/browser/urls.py), in real browsers against
daphne: a device switch that Stop overtakes, promise rejections, getStats() polling only on
request, and a strict Content-Security-Policy.

Init scripts stand between the widget and the browser where a test must hold a call back or
make it fail: getUserMedia and RTCRtpSender.replaceTrack are held until the test releases
them (GATES), and enumerateDevices, replaceTrack and getStats can be made to reject (FAULTS).
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from .widget import wait_state, wait_stats

pytestmark = pytest.mark.browser
# Firefox's fake devices are one microphone (and a camera); its real PulseAudio sources are two
# microphones to switch between (tests/browser/firefox.py), and these tests use no camera.
FIREFOX_PREFS = {"media.navigator.streams.fake": False, "media.audio_loopback_dev": None}

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

# With __fail[name] set (true, or the name of the DOMException), that call rejects
# (__failed[name] counts them); every unhandled rejection is kept in __unhandled.
FAULTS = """
(() => {
  window.__unhandled = [];
  window.addEventListener("unhandledrejection", (ev) => {
    window.__unhandled.push(String(ev.reason && (ev.reason.stack || ev.reason.message) || ev.reason));
  });
  window.__fail = { enumerateDevices: false, replaceTrack: false, getStats: false, play: false };
  window.__failed = { enumerateDevices: 0, replaceTrack: 0, getStats: 0, play: 0 };
  const failing = (name, call) => function (...args) {
    const fail = window.__fail[name];
    if (!fail) return call.apply(this, args);
    window.__failed[name] += 1;
    return Promise.reject(new DOMException(`${name} made to fail by the test`, fail === true ? "InvalidStateError" : fail));
  };
  const devices = navigator.mediaDevices;
  devices.enumerateDevices = failing("enumerateDevices", devices.enumerateDevices.bind(devices));
  RTCRtpSender.prototype.replaceTrack = failing("replaceTrack", RTCRtpSender.prototype.replaceTrack);
  RTCPeerConnection.prototype.getStats = failing("getStats", RTCPeerConnection.prototype.getStats);
  HTMLMediaElement.prototype.play = failing("play", HTMLMediaElement.prototype.play);
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


def unhandled(page: Any) -> list[str]:
    # Unhandled rejections are reported in a task after the microtasks: let two tasks run first.
    return page.evaluate(
        "async () => { for (let i = 0; i < 2; i++) await new Promise((r) => setTimeout(r, 0)); return window.__unhandled; }"
    )


def test_no_unhandled_rejections_in_start_stop_switch_and_failures(context, site):
    """Start and Stop, Stop while connecting, device switches held past Stop, and failing browser
    calls (enumerateDevices, replaceTrack, getStats): every promise the widget makes is handled."""
    context.add_init_script(GATES)
    context.add_init_script(FAULTS)
    page = open_widget(context, site, query="?stats_interval=100")
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    start, stop = "rtc-stream [data-part=start]", "rtc-stream [data-part=stop]"

    # Start, live (the getStats() polling writes its attributes), Stop.
    page.click(start)
    wait_state(page, "listening")
    page.wait_for_function("() => Number(document.querySelector('rtc-stream').dataset.packetsSent) > 0")
    page.click(stop)
    wait_phase_idle(page)

    # Stop at once, and Stop while the microphone is being opened (granted after Stop).
    page.click(start)
    page.click(stop)
    wait_phase_idle(page)
    page.evaluate("() => { window.__hold.getUserMedia = true; }")
    page.click(start)
    page.wait_for_function("() => window.__held.length === 1")
    page.click(stop)
    page.evaluate("() => { window.__hold.getUserMedia = false; window.__release(); }")
    wait_phase_idle(page)
    assert unhandled(page) == []

    # The browser fails: the device list (at start and on devicechange), the polled getStats().
    page.evaluate("() => { window.__fail.enumerateDevices = true; window.__fail.getStats = true; }")
    page.click(start)
    wait_state(page, "listening")
    page.evaluate("() => navigator.mediaDevices.dispatchEvent(new Event('devicechange'))")
    page.wait_for_function("() => window.__failed.enumerateDevices >= 2 && window.__failed.getStats >= 2")
    page.evaluate("() => { window.__fail.enumerateDevices = false; window.__fail.getStats = false; }")
    assert unhandled(page) == []
    page.evaluate("() => navigator.mediaDevices.dispatchEvent(new Event('devicechange'))")
    other = other_microphone(page)

    # A switch whose replaceTrack fails: the visitor is told, the new microphone is closed.
    page.evaluate("() => { window.__fail.replaceTrack = true; }")
    count = page.evaluate("() => window.__tracks.length")
    page.select_option(MIC_SELECT, other)
    page.wait_for_function("() => window.__failed.replaceTrack === 1")
    assert unhandled(page) == []
    page.wait_for_selector("rtc-stream [data-part=message]:not([hidden])")
    assert "Could not switch" in page.inner_text("rtc-stream [data-part=message]")
    page.wait_for_function(
        "n => window.__tracks.length === n + 1 && window.__tracks[n].readyState === 'ended'", arg=count
    )
    assert page.eval_on_selector(WIDGET, "el => el.dataset.state") == "listening"
    page.evaluate("() => { window.__fail.replaceTrack = false; }")

    # A switch held past Stop, released after the peer connection has closed.
    page.evaluate("() => { window.__hold.replaceTrack = true; }")
    page.select_option(
        MIC_SELECT, page.eval_on_selector(MIC_SELECT, "s => [...s.options].find((o) => !o.selected).value")
    )
    page.wait_for_function("() => window.__held.length === 1")
    page.click(stop)
    wait_phase_idle(page)
    page.evaluate("() => window.__release()")
    page.wait_for_function("() => window.__settled === 2")
    assert_all_tracks_end(page)
    assert unhandled(page) == []

    # The reply's play() interrupted (AbortError): nothing to tell; refused by autoplay rules: say so.
    message = "rtc-stream [data-part=message]"
    for name, shown in (("AbortError", False), ("NotAllowedError", True)):
        page.evaluate("name => { window.__fail.play = name; window.__failed.play = 0; }", name)
        page.click(start)
        wait_state(page, "listening")
        page.wait_for_function("() => window.__failed.play > 0")
        if shown:
            page.wait_for_selector(message, state="visible")
            assert "autoplay" in page.inner_text(message)
        else:
            wait_stats(page, "s.audio.received.packets > 10")  # connected, and the media flows
            assert page.is_hidden(message), page.inner_text(message)
        page.click(stop)
        wait_phase_idle(page)
    assert unhandled(page) == []
    assert errors == []


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


# Every Content-Security-Policy violation the page reports, and the console's complaints.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (ev) => {
  window.__violations.push(`${ev.violatedDirective} ${ev.blockedURI} ${ev.sourceFile}:${ev.lineNumber}`);
}, true);
"""


def console_csp_messages(page: Any) -> list[str]:
    messages: list[str] = []

    def keep(msg: Any) -> None:
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            messages.append(msg.text)

    page.on("console", keep)
    return messages


def test_a_strict_content_security_policy_is_enough(context, site):
    """Under STRICT_CSP (no inline script or style; scripts, styles and sockets from the site only)
    the widget starts a session and audio flows both ways, with no violation."""
    from .urls import STRICT_CSP

    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    complaints = console_csp_messages(page)
    url = f"{site}/test-pages/widget/t-echo/?csp=1"
    with urllib.request.urlopen(url) as response:  # what the page gets (Selenium does not show its headers)
        assert response.headers["Content-Security-Policy"] == STRICT_CSP
    page.goto(url)
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    # The stylesheet applied, and the "did not load" message is not shown.
    assert page.eval_on_selector(WIDGET, "el => getComputedStyle(el).borderTopLeftRadius") == "12px"
    assert page.is_hidden("rtc-stream [data-part=script-missing]")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening")
    wait_stats(page, "s.audio.sent.packets > 50 && s.audio.received.packets > 50 && s.audio.received.energy > 0")
    page.click("rtc-stream [data-part=stop]")
    wait_phase_idle(page)
    assert page.evaluate("() => window.__violations") == []
    assert complaints == []


@pytest.mark.chromium_only("page.route: Selenium cannot answer a request in place of the server")
@pytest.mark.parametrize("missing", ["script", "script and stylesheet"])
def test_under_a_strict_policy_a_missing_script_is_still_explained(context, site, missing):
    """The "did not load" message needs no inline script: shown by the stylesheet after a delay,
    or at once, unstyled, when the stylesheet did not load either."""
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    complaints = console_csp_messages(page)
    pattern = "**/static/rtcstream/*.js" if missing == "script" else "**/static/rtcstream/*"
    page.route(pattern, lambda route: route.fulfill(status=404, body="Not Found"))
    page.goto(f"{site}/test-pages/widget/t-echo/?csp=1", wait_until="load")
    message = "rtc-stream [data-part=script-missing]"
    if missing == "script":
        assert page.is_hidden(message)  # not at once: a slow script is not a missing one
    page.wait_for_selector(message, state="visible")
    assert "/static/rtcstream/rtcstream.js" in page.inner_text(message)
    assert page.evaluate("() => customElements.get('rtc-stream')") is None
    assert page.evaluate("() => window.__violations") == []
    assert complaints == []


@pytest.mark.chromium_only("a context with JavaScript off is Playwright's new_context(java_script_enabled=False)")
def test_with_scripting_off_only_noscript_speaks(browser, site):
    """A browser with JavaScript off is told so by <noscript>, not that the script did not load."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{site}/test-pages/widget/t-echo/", wait_until="load")
        style = page.eval_on_selector(
            "rtc-stream [data-part=script-missing]",
            "el => [getComputedStyle(el).display, getComputedStyle(el).animationName]",
        )
        assert style == ["none", "none"]
        assert page.is_visible("rtc-stream noscript")
    finally:
        context.close()
