// <rtc-stream>: the rtcstream browser client (docs/protocol.md), no build step.
//
// The {% webrtc %} tag renders the element with its parts (data-part="...").
// The element wires those parts and the page's inputs and trigger, drives a
// StreamController (controller.js: sockets, media, peer connection) and renders
// what it reports. Every listener the element puts on the page is added with
// one AbortSignal per connection to the DOM and removed when it leaves, so
// moving the element never doubles them; a move keeps the session.

import { askConsent } from "./consent.js";
import { StreamController } from "./controller.js";
import { InputBinding, splitSelectors } from "./inputs.js";
import { deviceWord, kindsOf } from "./media.js";
import { LevelView, Meter, audioContext } from "./meters.js";
import { CLOSED_TEXT, ERROR_REASONS, EVENT_STATE, EVENT_TEXT, STATE_TEXT, TRANSPORT_TEXT, queueText, quotaText } from "./messages.js";
import { prepareChat, prepareOutputs, renderOutputs, renderers } from "./outputs.js";

export class RtcStream extends HTMLElement {
  static renderers = renderers;

  #controller = new StreamController();
  #wiring = null; // aborts the page listeners of the current connection to the DOM
  #inputs = null;
  #autostarted = false;
  #muted = false;
  #meters = { mic: null, reply: null };
  #frame = 0;
  #timers = { countdown: 0, stats: 0, quota: 0 };
  #messageUntilConnected = false; // the message shown is "Still connecting…"

  constructor() {
    super();
    const on = (type, fn) => this.#controller.addEventListener(type, (ev) => fn(ev.detail));
    on("state", (d) => this.#onState(d));
    on("session", (d) => {
      this.dataset.session = d.session;
      this.#showQuota(this.#controller.sessionInfo?.quota);
    });
    on("queue", (d) => this.#onQueue(d));
    on("event", (d) => this.#onEvent(d));
    on("local", (d) => this.#attachLocal(d.stream));
    on("track", (d) => this.#attachRemote(d.track, d.stream));
    on("connection", (d) => this.#onConnection(d.state));
    on("transport", (d) => this.#onTransport(d));
    on("output", (d) => this.#onOutput(d));
    on("message", (d) => this.#emit("rtcstream:message", d));
    on("warning", (d) => {
      this.#showMessage(d.message, "warning");
      this.#emit("rtcstream:warning", d);
    });
    on("notice", (d) => this.#showMessage(d.message, d.level, { untilConnected: d.untilConnected }));
    on("error", (d) => this.#onServerError(d));
    on("end", (d) => this.#onEnd(d));
    on("consent", (d) => this.#onConsent(d.recording));
  }

  connectedCallback() {
    this.#wiring?.abort();
    this.#wiring = new AbortController();
    const { signal } = this.#wiring;
    // The script has loaded: the message that says it did not is never needed (rtcstream.css).
    this.#part("script-missing")?.setAttribute("hidden", "");
    this.mode = this.getAttribute("mode") || "send-receive";
    this.modality = this.getAttribute("modality") || "audio";
    const click = (name, fn) => this.#part(name)?.addEventListener("click", fn, { signal });
    click("start", () => this.start());
    click("stop", () => this.stop());
    click("mute", () => this.setMuted(!this.#muted));
    click("speaker", () => this.#toggleSpeaker());
    this.#part("text-form")?.addEventListener("submit", (ev) => this.#submitText(ev), { signal });
    for (const [name, kind] of [["mic-select", "audio"], ["camera-select", "video"]]) {
      const change = (ev) => this.#controller.switchDevice(kind, ev.target.value).catch((err) => console.warn("rtcstream: device switch failed", err));
      this.#part(name)?.addEventListener("change", change, { signal });
    }
    window.addEventListener("pagehide", () => this.#controller.leave(), { signal });
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.#listDevices(), { signal });
    this.#inputs ??= new InputBinding(this.getAttribute("inputs"), (values) => this.#controller.sendInputs(values));
    // Bind after the page has parsed: the inputs and the trigger may come later in it.
    const bind = () => {
      this.#inputs.bind();
      this.#bindTrigger(signal);
      for (const el of this.#inputs.elements()) prepareChat(el);
      prepareOutputs(splitSelectors(this.getAttribute("outputs")), splitSelectors(this.getAttribute("render")));
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind, { once: true, signal });
    else bind();
    signal.addEventListener("abort", () => this.#inputs.unbind());
    if (this.hasAttribute("autostart") && !this.#autostarted) {
      this.#autostarted = true;
      queueMicrotask(() => this.start());
    }
  }

  disconnectedCallback() {
    this.#wiring?.abort();
    this.#wiring = null;
    // A move (removed, then inserted again in the same task) keeps the session.
    queueMicrotask(() => {
      if (!this.isConnected) this.#controller.stop();
    });
  }

  /** Element.moveBefore() keeps the element connected: nothing to do. */
  connectedMoveCallback() {}

  // -- public API ------------------------------------------------------------

  /** Whether a session is being set up or running. */
  get running() {
    return this.#controller.running;
  }

  /** The current session id, or null. */
  get session() {
    return this.#controller.session;
  }

  /** Open a session: signalling, outputs, media, offer. */
  start() {
    if (this.#controller.running) return Promise.resolve();
    if (this.modality !== "video") audioContext(); // inside the click, so autoplay rules let the reply play
    prepareOutputs(splitSelectors(this.getAttribute("outputs")), splitSelectors(this.getAttribute("render")));
    return this.#controller.start({
      path: this.getAttribute("ws-path"),
      endpoint: this.getAttribute("endpoint"),
      mode: this.mode,
      modality: this.modality,
      transport: this.getAttribute("transport") || "auto", // "auto", "webrtc" or "websocket"
      inputs: () => this.#inputs?.values() ?? [],
      consent: (signal) => askConsent(this.#part("consent"), signal),
    });
  }

  /** End the session (the server releases it at once). */
  stop() {
    this.#controller.stop();
  }

  /** Start (receive mode) or ask the handler to run again with the current inputs. */
  trigger() {
    if (!this.#controller.running) this.start();
    else this.#controller.trigger();
  }

  /**
   * Send typed text to the handler (an endpoint whose entry says "text": True), starting the
   * session first if none runs: it goes once the media is connected. False when it cannot go.
   */
  sendText(text) {
    if (!this.#controller.running) this.start();
    return this.#controller.sendText(text);
  }

  /** Mute or unmute the microphone (the track keeps flowing, as silence). */
  setMuted(muted) {
    this.#muted = muted;
    this.#controller.setMuted(muted);
    const button = this.#part("mute");
    if (button) {
      button.setAttribute("aria-pressed", String(muted));
      button.textContent = muted ? "Unmute mic" : "Mute mic";
    }
  }

  /** Summarise RTCPeerConnection.getStats(): packets and bytes per kind and direction. */
  async stats() {
    return { state: this.dataset.state, ...(await this.#controller.stats()) };
  }

  // -- what the controller reports -----------------------------------------------

  #onState({ state, reconnecting }) {
    this.dataset.phase = state;
    if (state === "connecting") {
      if (!reconnecting) {
        delete this.dataset.error;
        delete this.dataset.transport;
        this.#part("transport")?.setAttribute("hidden", "");
        this.#showMessage("");
      }
      this.#resetView();
      this.#setState(reconnecting ? "reconnecting" : "connecting");
    } else if (state === "live") {
      this.#setState(this.mode === "receive" ? "receiving" : this.modality === "audio" ? "listening" : "live");
      this.#startCountdown();
      this.#startStatsAttributes();
    }
    this.#showButtons();
  }

  #onEvent({ name, data }) {
    this.#emit("rtcstream:event", { name, data });
    if (name === "quota") this.#showQuota(data);
    if (name in EVENT_STATE && this.#controller.state === "live") this.#setState(EVENT_STATE[name], EVENT_TEXT[name]?.(data));
  }

  #submitText(ev) {
    ev.preventDefault();
    const input = this.#part("text-input");
    const text = input?.value.trim();
    if (!text) return;
    if (this.sendText(text) !== false) input.value = "";
  }

  /** The offer waits in the endpoint's waiting room: say where the visitor stands (until the media connects). */
  #onQueue({ position, length, estimate }) {
    this.dataset.position = position;
    this.#setState("waiting");
    this.#showMessage(queueText({ position, estimate }), "info", { untilConnected: true });
    this.#emit("rtcstream:queue", { position, length, estimate });
  }

  /** What is left of the visitor's daily minutes (a quota's data; none: hidden), counted down while live. */
  #showQuota(quota) {
    const part = this.#part("quota");
    clearInterval(this.#timers.quota);
    const left = quota?.seconds_left;
    if (!part || left == null) {
      part?.setAttribute("hidden", "");
      return;
    }
    const until = performance.now() + left * 1000;
    const tick = () => {
      const seconds = Math.max(0, (until - performance.now()) / 1000);
      part.textContent = quotaText(seconds);
      part.dataset.secondsLeft = Math.round(seconds);
    };
    tick();
    part.hidden = false;
    if (this.#controller.running) this.#timers.quota = setInterval(tick, 1000);
  }

  /** A recorded session: show that it is recorded (data-recording, and the recording part) once the visitor agreed. */
  #onConsent(recording) {
    if (recording) this.dataset.recording = "";
    else delete this.dataset.recording;
    this.#emit("rtcstream:consent", { recording });
    const badge = this.#part("recording");
    if (badge) badge.hidden = !recording;
  }

  /** What carries the media, once it is connected: data-transport, the status's word, rtcstream:transport. */
  #onTransport({ transport, fallback }) {
    this.dataset.transport = transport;
    const part = this.#part("transport");
    if (part) {
      part.textContent = TRANSPORT_TEXT[transport] ?? transport;
      part.hidden = false;
    }
    this.#emit("rtcstream:transport", { transport, fallback });
  }

  #onConnection(state) {
    this.dataset.connection = state;
    if (state === "connected" && this.#messageUntilConnected) this.#showMessage("");
  }

  #onOutput({ values, seq, session }) {
    const event = new CustomEvent("rtcstream:output", { detail: { values, seq, session }, bubbles: true, composed: true, cancelable: true });
    // A listener may call preventDefault() to replace the built-in rendering.
    if (this.dispatchEvent(event) && this.hasAttribute("outputs")) {
      renderOutputs(splitSelectors(this.getAttribute("outputs")), splitSelectors(this.getAttribute("render")), values);
    }
  }

  #onServerError({ code, message }) {
    this.#emit("rtcstream:error", { code, message });
    if (ERROR_REASONS.has(code)) this.#showMessage(message, "error"); // a `closed` follows
  }

  #onEnd({ reason, message, error }) {
    this.#resetView();
    if (error) {
      console.warn("rtcstream:", error.code, error.message);
      this.#setState("error");
      this.#showMessage(error.message, "error");
      this.dataset.error = error.code;
      this.#emit("rtcstream:error", { code: error.code, message: error.message });
      return;
    }
    this.#emit("rtcstream:closed", { reason, message });
    const isError = ERROR_REASONS.has(reason);
    this.#setState(isError ? "error" : reason === "stream_ended" ? "ended" : "idle");
    const text = CLOSED_TEXT[reason] ?? `The stream ended: ${message || reason}`;
    // The server's error message, already shown, says more than the close reason does.
    if (!isError || !this.#part("message")?.textContent) this.#showMessage(text, isError ? "error" : "info");
  }

  // -- media on the page ---------------------------------------------------------

  #attachLocal(stream) {
    const kinds = kindsOf(this.modality);
    if (kinds.includes("video")) {
      const video = this.#part("local-video");
      if (video) video.srcObject = stream;
    }
    if (kinds.includes("audio")) {
      this.#meters.mic?.disconnect();
      this.#meters.mic = new Meter(stream);
      this.#startDrawing();
    }
    this.#listDevices();
  }

  #attachRemote(track, stream) {
    if (track.kind === "video") {
      const video = this.#part("remote-video");
      if (video) video.srcObject = stream;
      this.#part("placeholder")?.setAttribute("hidden", "");
      return;
    }
    const audio = this.#part("remote-audio");
    if (audio) {
      // Chrome feeds a remote stream to Web Audio only while a media element plays it.
      audio.srcObject = stream;
      audio.play().catch((err) => {
        if (err?.name === "NotAllowedError") this.#showMessage("Press start again to hear the reply (the browser blocked autoplay).", "warning");
        // AbortError: a new stream or the end of the session interrupted play(); nothing to say.
        else if (err?.name !== "AbortError") console.warn("rtcstream: the reply could not be played", err);
      });
    }
    this.#meters.reply?.disconnect();
    this.#meters.reply = new Meter(stream);
    this.#startDrawing();
  }

  // -- devices ---------------------------------------------------------------------

  /** Fill the device menus (without the list, they stay as they were). */
  #listDevices() {
    this.#fillDeviceMenus().catch((err) => console.warn("rtcstream: could not list the devices", err));
  }

  async #fillDeviceMenus() {
    if (this.mode === "receive" || !navigator.mediaDevices?.enumerateDevices) return;
    const all = await navigator.mediaDevices.enumerateDevices();
    for (const kind of kindsOf(this.modality)) {
      const select = this.#part(kind === "video" ? "camera-select" : "mic-select");
      if (!select) continue;
      const devices = all.filter((d) => d.kind === `${kind}input` && d.deviceId);
      const track = this.#controller.localStream?.getTracks().find((t) => t.kind === kind);
      const current = track?.getSettings().deviceId || this.#controller.preferredDevice(kind);
      const word = deviceWord(kind);
      const label = `${word[0].toUpperCase()}${word.slice(1)}`;
      select.replaceChildren(...devices.map((d, i) => new Option(d.label || `${label} ${i + 1}`, d.deviceId, false, d.deviceId === current)));
      select.hidden = devices.length < 2 && !this.hasAttribute("show-devices");
    }
  }

  #bindTrigger(signal) {
    const selector = this.getAttribute("trigger");
    if (!selector) return;
    const el = document.querySelector(selector);
    if (!el) console.warn(`rtcstream: no element matches the trigger selector ${selector}`);
    el?.addEventListener("click", (ev) => { ev.preventDefault(); this.trigger(); }, { signal });
  }

  #toggleSpeaker() {
    const audio = this.#part("remote-audio");
    const button = this.#part("speaker");
    if (!audio || !button) return;
    audio.muted = !audio.muted;
    button.setAttribute("aria-pressed", String(audio.muted));
    button.textContent = audio.muted ? "Unmute sound" : "Mute sound";
  }

  // -- display ---------------------------------------------------------------------

  #part(name) {
    return this.querySelector(`[data-part="${name}"]`);
  }

  /** Show `state`, in its own words or those given (`text`: the phrase a stopword event heard). */
  #setState(state, text) {
    const label = this.#part("state-text");
    const words = text ?? STATE_TEXT[state] ?? state;
    if (this.dataset.state === state && (!label || label.textContent === words)) return;
    this.dataset.state = state;
    if (label) label.textContent = words;
    this.#emit("rtcstream:state", { state });
  }

  /** Show `text` (or nothing, for ""); `untilConnected`: cleared once the media connection is up. */
  #showMessage(text, level = "info", { untilConnected = false } = {}) {
    this.#messageUntilConnected = untilConnected;
    const el = this.#part("message");
    if (!el) return;
    el.textContent = text;
    el.dataset.level = level;
    el.hidden = !text;
  }

  /** Show Start or Stop; focus follows: from a button that hides to the one that shows. */
  #showButtons() {
    const running = this.#controller.running;
    const focused = document.activeElement;
    const triggered = this.mode === "receive" && this.hasAttribute("trigger");
    const start = this.#part("start");
    const stop = this.#part("stop");
    if (start) start.hidden = running || triggered;
    if (stop) stop.hidden = !running;
    for (const name of ["mute", "speaker"]) {
      const el = this.#part(name);
      if (el) el.hidden = !running;
    }
    if (focused instanceof HTMLElement && this.contains(focused) && focused.closest("[hidden]")) {
      const next = running ? stop : start;
      if (next && !next.hidden) next.focus();
    }
  }

  #startCountdown() {
    const limit = Number(this.#controller.sessionInfo?.time_limit);
    const timer = this.#part("timer");
    if (!limit || !timer) return;
    clearInterval(this.#timers.countdown);
    const deadline = performance.now() + limit * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
      timer.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      timer.classList.toggle("rtcs-timer-low", left <= 10);
    };
    tick();
    timer.hidden = false;
    this.#timers.countdown = setInterval(tick, 250);
  }

  /**
   * Only with stats-interval="ms" (for tests and dashboards): while live, write
   * data-packets-sent / data-packets-received from getStats() every ms (at least 100;
   * the attribute without a number: every second; 0: never).
   * Off by default: a getStats() every second in every widget costs the page for nothing.
   */
  #startStatsAttributes() {
    clearInterval(this.#timers.stats);
    const attribute = this.getAttribute("stats-interval");
    if (attribute === null) return;
    const ms = attribute.trim() === "" || Number.isNaN(Number(attribute)) ? 1000 : Number(attribute);
    if (!(ms > 0)) return;
    let busy = false; // a slow getStats() is not overlapped by the next one
    this.#timers.stats = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const s = await this.#controller.stats();
        this.dataset.packetsSent = s.audio.sent.packets + s.video.sent.packets;
        this.dataset.packetsReceived = s.audio.received.packets + s.video.received.packets;
      } catch (err) {
        console.warn("rtcstream: getStats() failed", err);
      } finally {
        busy = false;
      }
    }, Math.max(100, ms));
  }

  /** Animate the meters and the waveform while a session runs; the loop ends with it. */
  #startDrawing() {
    if (this.#frame || !this.#controller.running) return;
    const view = new LevelView({
      canvas: this.#part("wave"),
      micMeter: this.#part("mic-meter"),
      replyMeter: this.#part("reply-meter"),
    });
    const draw = (now) => {
      if (!this.#controller.running) {
        this.#frame = 0;
        return;
      }
      view.draw(now, this.#meters);
      this.#frame = requestAnimationFrame(draw);
    };
    this.#frame = requestAnimationFrame(draw);
  }

  /** Clear what a session showed: meters, animation, timers, media elements, the recording's badge. */
  #resetView() {
    delete this.dataset.recording;
    this.#part("recording")?.setAttribute("hidden", "");
    this.#part("consent")?.setAttribute("hidden", "");
    cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    for (const name of ["mic", "reply"]) {
      this.#meters[name]?.disconnect();
      this.#meters[name] = null;
    }
    for (const meter of ["mic-meter", "reply-meter"]) {
      const el = this.#part(meter);
      if (el) el.value = 0;
    }
    clearInterval(this.#timers.countdown);
    clearInterval(this.#timers.stats);
    clearInterval(this.#timers.quota);
    delete this.dataset.position;
    this.#part("timer")?.setAttribute("hidden", "");
    for (const name of ["local-video", "remote-video", "remote-audio"]) {
      const el = this.#part(name);
      if (el) el.srcObject = null;
    }
    this.#part("placeholder")?.removeAttribute("hidden");
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get("rtc-stream")) customElements.define("rtc-stream", RtcStream);
