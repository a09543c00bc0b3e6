"""Every demo page in real browsers: media flows each way its mode says, outputs render."""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .widget import events, record_events, set_input, video_pixels, wait_pixels, wait_state, wait_stats

pytestmark = pytest.mark.browser

DEMOS = (
    "talk-echo",
    "websocket",
    "phone",
    "echo",
    "generate",
    "edges",
    "clip",
    "transcript",
    "assistant",
    "wake-word",
    "chat",
    "call",
    "fastrtc-app",
    "greet",
    "quota",
    "waiting-room",
    "recorded",
)


def open_demo(page, site: str, slug: str) -> None:
    page.goto(f"{site}/demos/{slug}/")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    record_events(page)


def test_home_links_every_demo(page, site):
    page.goto(site)
    hrefs = page.eval_on_selector_all(".cards a", "links => links.map(a => a.getAttribute('href'))")
    assert hrefs == [f"/demos/{slug}/" for slug in DEMOS]
    screenshot(page, "home")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "home-phone")


def test_the_websocket_demo_replies_without_webrtc(page, site):
    open_demo(page, site, "websocket")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, ("listening", "hearing", "thinking", "speaking"), timeout=30000)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "websocket"
    # The reply is heard in the page: the reply meter (an AnalyserNode on the websocket's playback) moves.
    page.wait_for_function(
        "() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.05", timeout=40000
    )
    names = [e["detail"]["name"] for e in events(page) if e["type"] == "rtcstream:event"]
    assert {"started_talking", "pause_detected", "response_starting"} <= set(names), names
    screenshot(page, "websocket")


def test_the_phone_demo_names_the_webhook_twilio_calls(page, site):
    page.goto(f"{site}/demos/phone/")
    webhook = page.inner_text("[data-part=webhook]")
    assert webhook == f"{site}/rtcstream/twilio/talk-echo/"
    assert page.get_attribute("[data-phone]", "data-phone") in ("on", "off")


def test_reply_on_pause_replies_with_audio(page, site):
    open_demo(page, site, "talk-echo")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, ("listening", "hearing", "thinking", "speaking"))
    wait_stats(page, "s.audio.sent.packets > 50")
    # The reply is the user's own utterance played back: real energy arrives.
    result = wait_stats(page, "s.audio.received.packets > 50 && s.audio.received.energy > 0.01", timeout=40000)
    names = [e["detail"]["name"] for e in events(page) if e["type"] == "rtcstream:event"]
    assert names[0] == "connected"
    assert {"started_talking", "pause_detected", "response_starting"} <= set(names), names
    states = [e["detail"]["state"] for e in events(page) if e["type"] == "rtcstream:state"]
    assert {"connecting", "listening", "thinking", "speaking"} <= set(states), states
    assert result["audio"]["received"]["energy"] > 0.01
    screenshot(page, "talk-echo")


def test_stream_handler_echo_flows_both_ways(page, site):
    open_demo(page, site, "echo")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening")
    wait_stats(page, "s.audio.sent.packets > 50 && s.audio.received.packets > 50 && s.audio.received.energy > 0.001")
    assert page.is_visible("rtc-stream [data-part=mute]")
    screenshot(page, "echo")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


def test_generate_plays_the_requested_steps_then_ends(page, site):
    open_demo(page, site, "generate")
    assert page.is_hidden("rtc-stream [data-part=start]")  # the page's Generate button starts it
    set_input(page, "#num-steps", 2)
    page.click("#generate")
    wait_state(page, "receiving")
    s = wait_stats(page, "s.audio.received.packets > 20 && s.audio.received.energy > 0.001")
    assert s["audio"]["sent"]["packets"] == 0  # receive mode: nothing goes up
    screenshot(page, "generate")
    # Two steps are about 1.2 s of audio; the session then ends by itself.
    wait_state(page, "ended", timeout=15000)
    closed = [e["detail"] for e in events(page) if e["type"] == "rtcstream:closed"]
    assert closed and closed[-1]["reason"] == "stream_ended"


def test_edges_slider_changes_the_processed_video(page, site):
    open_demo(page, site, "edges")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "live")
    wait_stats(page, "s.video.sent.frames > 10 && s.video.received.frames > 10")
    remote = "rtc-stream [data-part=remote-video]"
    page.wait_for_function(f"() => document.querySelector('{remote}').videoWidth > 0")

    # Frames in flight still carry the old threshold: wait, within a deadline, for the new one.
    set_input(page, "#threshold", 0.0)
    low = wait_pixels(page, remote, "p.cyan > 0.05")["cyan"]
    set_input(page, "#threshold", 0.95)
    high = wait_pixels(page, remote, "p.cyan < 0.005")["cyan"]
    assert high < low / 10, (low, high)
    set_input(page, "#threshold", 0.3)
    wait_stats(page, "s.video.received.frames > 0")
    screenshot(page, "edges")


def test_clip_streams_generated_video(page, site):
    open_demo(page, site, "clip")
    page.click("#play")
    wait_state(page, "receiving")
    wait_stats(page, "s.video.received.frames > 30 && s.video.sent.packets === 0")
    pixels = video_pixels(page, "rtc-stream [data-part=remote-video]")
    assert pixels is not None, "the <video> shows no frame"
    assert (pixels["width"], pixels["height"]) == (320, 240)
    assert pixels["mean"] > 40
    screenshot(page, "clip")


def test_transcript_renders_outputs_as_chat(page, site):
    open_demo(page, site, "transcript")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, ("listening", "hearing", "thinking"))
    page.wait_for_selector("#transcript li.rtcs-chat-message", timeout=40000)
    outputs = [e["detail"] for e in events(page) if e["type"] == "rtcstream:output"]
    assert outputs[0]["seq"] == 1 and outputs[0]["values"][0]["role"] == "user"
    assert page.inner_text("#transcript li .rtcs-chat-text").strip()
    s = wait_stats(page, "s.audio.sent.packets > 50")
    assert s["audio"]["received"]["packets"] == 0  # mode "send"
    screenshot(page, "transcript")


def test_assistant_answers_in_speech_and_text(page, site):
    open_demo(page, site, "assistant")
    page.click("rtc-stream [data-part=start]")
    # The question heard, then the answer (the microphone plays its file again and again, so a second
    # question may be heard before the first answer is shown).
    page.wait_for_selector("#conversation li.rtcs-role-assistant", timeout=40000)
    roles = page.eval_on_selector_all("#conversation li", "items => items.map(li => li.className)")
    assert "rtcs-role-user" in roles[0]
    wait_stats(page, "s.audio.received.energy > 0.01", timeout=20000)
    screenshot(page, "assistant")


@pytest.mark.parametrize("slug", DEMOS)
def test_pages_fit_a_phone(context, site, slug):
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site}/demos/{slug}/")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{slug} scrolls sideways by {overflow}px on a phone"
    screenshot(page, f"{slug}-phone")


MISSING_SCRIPT = "rtc-stream [data-part=script-missing]"


def test_a_widget_whose_script_loaded_hides_the_missing_script_message(page, site):
    page.goto(f"{site}/demos/echo/", wait_until="load")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    assert page.is_hidden(MISSING_SCRIPT)


@pytest.mark.chromium_only("page.route: Selenium cannot answer a request in place of the server")
def test_a_widget_whose_script_did_not_load_says_so(page, site):
    # As under daphne when asgi.py serves no static files.
    page.route("**/static/rtcstream/*.js", lambda route: route.fulfill(status=404, body="Not Found"))
    page.goto(f"{site}/demos/echo/", wait_until="load")
    page.wait_for_selector(MISSING_SCRIPT, state="visible")
    text = page.inner_text(MISSING_SCRIPT)
    assert "/static/rtcstream/rtcstream.js" in text and "static files" in text and "rtcstream_assets" in text


def test_the_recorded_demo_asks_then_records_the_assistant(page, site):
    open_demo(page, site, "recorded")
    page.click("rtc-stream [data-part=start]")
    page.wait_for_selector("rtc-stream [data-part=consent]", state="visible")
    screenshot(page, "recorded-consent")
    page.click("rtc-stream [data-part=consent-yes]")
    wait_state(page, ("listening", "hearing", "thinking", "speaking"))
    assert page.is_visible("rtc-stream [data-part=recording]")
    page.wait_for_selector("#conversation li", timeout=40000)  # the assistant heard the question
    screenshot(page, "recorded")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
