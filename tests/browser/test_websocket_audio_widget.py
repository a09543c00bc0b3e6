"""The widget's audio over the websocket (docs/guide.md, "Audio over the websocket"): transport="websocket"
carries a reply-on-pause conversation without WebRTC, under the strict CSP (the AudioWorklet module is one
of the site's static files); the page says which transport it uses; a barge-in's `clear` drops the queued
reply; Stop gives the endpoint's one seat back; mute sends silence (not nothing), a microphone switch and
typed text work as they do over WebRTC. The fallback from WebRTC, with UDP dropped, is in
test_websocket_fallback.py."""

from __future__ import annotations

import pytest

from .widget import SAMPLE_REPLY, events, record_events, seat_passes_on_stop, wait_state, wait_stats

pytestmark = pytest.mark.browser

RECORD_TRANSPORT = """() => {
  window.__transports = [];
  document.addEventListener("rtcstream:transport", (ev) => window.__transports.push(ev.detail));
  window.__eventTimes = [];
  document.addEventListener("rtcstream:event", (ev) => window.__eventTimes.push([ev.detail.name, performance.now()]));
}"""


def event_names(page) -> list[str]:
    return [e["detail"]["name"] for e in events(page) if e["type"] == "rtcstream:event"]


def wait_event(page, name: str, timeout: float = 40000) -> None:
    page.wait_for_function(
        "(name) => (window.__rtcs || []).some((e) => e.type === 'rtcstream:event' && e.detail.name === name)",
        arg=name,
        timeout=timeout,
    )


def open_widget(page, site: str, slug: str, **options: str) -> None:
    query = "&".join(f"{name}={value}" for name, value in {"csp": "1", **options}.items())
    page.goto(f"{site}/test-pages/widget/{slug}/?{query}")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    record_events(page)
    page.evaluate(RECORD_TRANSPORT)


def test_a_reply_on_pause_conversation_over_the_websocket(page, site):
    open_widget(page, site, "t-reply-echo", transport="websocket")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    page.evaluate(SAMPLE_REPLY)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "websocket"
    assert page.inner_text("rtc-stream [data-part=transport]") == "Audio over the websocket"
    assert page.evaluate("() => window.__transports") == [{"transport": "websocket", "fallback": False}]
    wait_event(page, "playback_done")
    # Until the page has heard the reply's tail (the playback's jitter buffer holds it after the last frame came).
    page.wait_for_function("() => document.querySelector('rtc-stream [data-part=reply-meter]').value < 0.01")
    samples = page.evaluate("() => { clearInterval(window.__sampler); return window.__samples; }")
    names = event_names(page)
    for name in ("started_talking", "pause_detected", "response_starting", "response_done", "playback_done"):
        assert name in names, names
    assert names.index("pause_detected") < names.index("response_starting") < names.index("playback_done")
    peak = max(level for _, _, level in samples)
    assert peak > 0.05, "the reply was not heard"
    loud = [state for _, state, level in samples if level > peak / 4]
    assert len(loud) >= 8 and "speaking" in loud, loud
    s = wait_stats(page, "s.connection === 'websocket' && s.audio.sent.packets > 100 && s.audio.received.packets > 20")
    assert s["audio"]["sent"]["bytes"] == 640 * s["audio"]["sent"]["packets"]  # 20 ms of PCM16 at 16 kHz each
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
    assert "rtcstream:error" not in [e["type"] for e in events(page)]


def test_auto_uses_webrtc_where_it_connects_and_says_so(page, site):
    open_widget(page, site, "t-echo")  # transport: auto, the default
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "webrtc"
    assert page.inner_text("rtc-stream [data-part=transport]") == "WebRTC"
    assert page.evaluate("() => window.__transports") == [{"transport": "webrtc", "fallback": False}]
    s = wait_stats(page, "s.audio.received.packets > 50")
    assert s["connection"] == "connected"  # a peer connection's state, not "websocket"
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


def test_the_time_limit_ends_a_websocket_session_as_it_ends_a_webrtc_one(page, site):
    open_widget(page, site, "t-echo-timed", transport="websocket")  # 1.5 s
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "websocket"
    wait_state(page, "idle", timeout=15000)
    closed = [e["detail"] for e in events(page) if e["type"] == "rtcstream:closed"]
    assert closed[-1]["reason"] == "time_limit"
    assert "Time limit reached" in page.inner_text("rtc-stream [data-part=message]")
    # The page's playback and capture ended with the session: nothing is sent or counted any more.
    assert page.evaluate("() => document.querySelector('rtc-stream').stats().then((s) => s.connection)") == "closed"


# Every 25 ms: the RMS of what the page plays, straight from an AnalyserNode on the reply's stream
# (the reply meter falls slowly, so that speech reads steadily).
SAMPLE_RMS = """async () => {
  const script = document.querySelector("script[type=module]").src;
  const { audioContext } = await import(new URL("meters.js", script).href);
  const ctx = audioContext();
  const el = document.querySelector("rtc-stream");
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(el.querySelector("[data-part=remote-audio]").srcObject).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  window.__rms = [];
  window.__sampler = setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const x of data) sum += x * x;
    window.__rms.push([performance.now(), Math.sqrt(sum / data.length)]);
  }, 25);
}"""


def test_a_barge_in_clears_the_reply_queued_in_the_page(page, site):
    """t-reply-tone replies with 6 s of tone; the microphone's file speaks again over it, and the handler
    clears its output: the page is silent at once (the server stops sending and says `clear`; what the
    clear drops is measured by the playback test below, where the page holds seconds, not 0.1 s)."""
    open_widget(page, site, "t-reply-tone", transport="websocket")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    wait_event(page, "response_starting")
    page.evaluate(SAMPLE_RMS)
    page.wait_for_function("() => window.__rms.some(([, rms]) => rms > 0.05)")
    # The barge-in on the tone now heard (an earlier reply may have been interrupted already: "Hello." can
    # end a turn that "What time is it?" then talks over).
    heard = page.evaluate("() => window.__rms.find(([, rms]) => rms > 0.05)[0]")
    after = "(t) => window.__eventTimes.find(([name, at]) => name === 'interrupted' && at > t)"
    page.wait_for_function(after, arg=heard, timeout=30000)
    interrupted = page.evaluate(after, heard)[1]
    # The next reply cannot start within a second: the barge-in is a spoken sentence, then a pause.
    page.wait_for_function("(t) => performance.now() > t + 1000", arg=interrupted)
    samples = page.evaluate("() => { clearInterval(window.__sampler); return window.__rms; }")
    times = page.evaluate("() => window.__eventTimes")
    until = min([t for name, t in times if name == "response_starting" and t > interrupted] + [interrupted + 1000])
    before = [rms for t, rms in samples if t < interrupted]
    after = [rms for t, rms in samples if interrupted + 250 < t < until]
    peak = max(before)
    # At least 100 ms of the page's audio (the sampler asks every 25 ms; a loaded machine delays it, and a short
    # barge-in sentence lets the next reply start sooner): a clear that failed leaves seconds of tone queued.
    assert peak > 0.05 and len(after) >= 4, (samples, times)
    heard = [(round(t - interrupted), round(rms, 3)) for t, rms in samples if t > interrupted - 300]
    assert max(after) < peak / 20, (heard, times)


# wsaudio.js's playback alone, fed 20 ms frames of a 440 Hz tone as if they came from the server.
PLAYBACK = """async () => {
  const script = document.querySelector("script[type=module]").src;
  const { WebsocketAudio } = await import(new URL("wsaudio.js", script).href);
  const ctx = await WebsocketAudio.prepare();
  await ctx.resume();
  const socket = { isOpen: false, buffered: 0, sendBinary() {} };
  const audio = new WebsocketAudio(ctx, socket, null, { codec: "pcm16", rate: 16000, frame_bytes: 640 });
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(audio.stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  const rms = () => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const x of data) sum += x * x;
    return Math.sqrt(sum / data.length);
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const levels = async (ms) => {
    const out = [];
    for (const end = performance.now() + ms; performance.now() < end; ) {
      await sleep(20);
      out.push(rms());
    }
    return out;
  };
  const frame = (i) => {
    const pcm = new Int16Array(320);
    for (let n = 0; n < 320; n++) pcm[n] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i * 320 + n)) / 16000));
    return pcm.buffer;
  };
  const send = (seconds) => { for (let i = 0; i < seconds * 50; i++) audio.receive(frame(i)); };
  send(4);
  const playing = await levels(400);
  audio.clear();
  await sleep(60);
  const cleared = await levels(400);
  send(4);
  const start = performance.now();
  await levels(200);
  while (rms() > 0.01 && performance.now() - start < 8000) await sleep(20);
  const played = (performance.now() - start) / 1000;
  audio.close();
  return { playing, cleared, played };
}"""


def test_the_playback_drops_what_it_holds_on_clear_and_holds_two_seconds_at_most(page, site):
    open_widget(page, site, "t-reply-echo", transport="websocket")
    page.click("main")  # a user gesture: the page may play sound
    result = page.evaluate(PLAYBACK)
    assert min(result["playing"][5:]) > 0.1, result["playing"]  # the tone (RMS 0.17) plays, once it has begun
    assert max(result["cleared"]) < 0.005, result["cleared"]  # the 3.6 s still queued are dropped
    # 4 s sent at once: the buffer keeps its newest 2 s (its bound), so the page does not fall 4 s behind.
    assert 1.6 < result["played"] < 2.6, result["played"]


def test_stop_gives_the_seat_back_for_the_next_visitor(context, site):
    """t-echo-one holds one session at a time: a second page is refused while the first talks over the
    websocket, and gets in once the first has pressed Stop."""
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        open_widget(page, site, "t-echo-one", transport="websocket")
    first.click("rtc-stream [data-part=start]")
    wait_state(first, "listening", timeout=30000)
    seat_passes_on_stop(first, second)
    wait_stats(second, "s.audio.received.packets > 50", selector="rtc-stream")  # the echo comes back
    second.click("rtc-stream [data-part=stop]")
    wait_state(second, "idle")


def reply_levels(page, ms: float) -> list[float]:
    """The reply meter's levels over the next ``ms`` milliseconds (every 25 ms)."""
    page.evaluate(SAMPLE_REPLY)
    page.wait_for_function("(ms) => window.__samples.length && performance.now() > window.__samples[0][0] + ms", arg=ms)
    return [
        level for _, _, level in page.evaluate("() => { clearInterval(window.__sampler); return window.__samples; }")
    ]


def test_mute_over_the_websocket_sends_silence_and_unmute_brings_the_voice_back(page, site):
    """t-echo plays back what it hears. Muted, the microphone's frames still go (as silence): for 7.5 s,
    longer than the fake microphone's loop (its sentence, then 5 s of quiet), nothing is echoed."""
    open_widget(page, site, "t-echo", transport="websocket")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    page.wait_for_function(
        "() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.05", timeout=20000
    )
    page.click("rtc-stream [data-part=mute]")
    sent = wait_stats(page, "s.audio.sent.packets > 0")["audio"]["sent"]["packets"]
    page.wait_for_function("() => document.querySelector('rtc-stream [data-part=reply-meter]').value < 0.01")
    muted = reply_levels(page, 7500)
    assert max(muted) < 0.01, max(muted)
    wait_stats(page, f"s.audio.sent.packets > {sent + 300}")  # 6 s of frames went meanwhile: silence, not nothing
    page.click("rtc-stream [data-part=mute]")
    page.wait_for_function(
        "() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.05", timeout=20000
    )
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
    assert "rtcstream:error" not in [e["type"] for e in events(page)]


# Every track getUserMedia gives the page, in window.__tracks.
KEEP_TRACKS = """
(() => {
  window.__tracks = [];
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await open(constraints);
    window.__tracks.push(...stream.getTracks());
    return stream;
  };
})();
"""


@pytest.mark.chromium_only("Firefox here has one microphone (a PulseAudio source): none to switch to")
def test_switching_the_microphone_over_the_websocket_keeps_the_audio_going(page, site):
    page.add_init_script(KEEP_TRACKS)
    open_widget(page, site, "t-echo", transport="websocket")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    select = "rtc-stream [data-part=mic-select]"
    page.wait_for_function("s => document.querySelector(s).options.length >= 2", arg=select)
    page.select_option(select, page.eval_on_selector(select, "s => [...s.options].find((o) => !o.selected).value"))
    page.wait_for_function(
        "() => window.__tracks.length === 2 && window.__tracks[0].readyState === 'ended'"
        " && window.__tracks[1].readyState === 'live'",
        timeout=10000,
    )
    sent = wait_stats(page, "s.audio.sent.packets > 0")["audio"]["sent"]["packets"]
    wait_stats(page, f"s.audio.sent.packets > {sent + 50}")  # the new microphone's frames go...
    # ...and are heard: its voice comes back (the fake devices all play the same file).
    levels = reply_levels(page, 8000)
    assert max(levels) > 0.05, max(levels)
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")
    assert all(page.evaluate("() => window.__tracks.map((t) => t.readyState === 'ended')"))
    assert "rtcstream:error" not in [e["type"] for e in events(page)]


def test_typed_text_is_answered_over_the_websocket(page, site):
    """An entry with "text": True over the websocket: the typed text reaches ReplyOnPause's fn as
    WebRTCData's textbox, and its spoken answer is heard (the microphone is muted: no voice turn)."""
    open_widget(page, site, "t-text", transport="websocket", text="1")
    page.evaluate("() => document.querySelector('rtc-stream').setMuted(true)")  # no voice turn: text alone
    page.click("rtc-stream [data-part=start]")
    wait_state(page, "listening", timeout=30000)
    page.fill("rtc-stream [data-part=text-input]", "hello over the socket")
    page.click("rtc-stream [data-part=text-send]")
    page.wait_for_function(
        "() => (window.__rtcs || []).some((e) => e.type === 'rtcstream:output' && JSON.stringify(e.detail).includes('hello over the socket'))",
        timeout=20000,
    )
    (data,) = [e["detail"]["values"][0] for e in events(page) if e["type"] == "rtcstream:output"]
    assert (data["type"], data["textbox"]) == ("WebRTCData", "hello over the socket")
    # The handler's reply to the text, a 0.3 s tone, is heard over the websocket.
    page.wait_for_function(
        "() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.05", timeout=10000
    )
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


def test_the_waiting_room_seats_a_websocket_visitor_when_the_seat_frees(context, site):
    """t-wait-one: one seat, a line of three. Over the websocket the second visitor's `media` request
    waits in line as an offer does, then the page starts by itself, and its audio comes back."""
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        open_widget(page, site, "t-wait-one", transport="websocket")
    first.click("rtc-stream [data-part=start]")
    wait_state(first, "listening", timeout=30000)
    second.click("rtc-stream [data-part=start]")
    wait_state(second, "waiting")
    assert second.get_attribute("rtc-stream", "data-position") == "1"
    first.click("rtc-stream [data-part=stop]")
    wait_state(first, "idle")
    wait_state(second, "listening", timeout=30000)  # seated by itself when the seat freed
    assert second.eval_on_selector("rtc-stream", "el => el.dataset.transport") == "websocket"
    second.wait_for_function(
        "() => document.querySelector('rtc-stream [data-part=reply-meter]').value > 0.05", timeout=20000
    )
    second.click("rtc-stream [data-part=stop]")
    wait_state(second, "idle")
    for page in (first, second):
        assert "rtcstream:error" not in [e["type"] for e in events(page)]
