// <rtc-stream>: the rtcstream browser client (docs/protocol.md), no build step.
//
// The {% webrtc %} tag renders the element with its parts (data-part="...");
// this module wires them: signalling socket -> session -> outputs socket ->
// getUserMedia -> RTCPeerConnection (trickled ICE) -> offer/answer.

import { InputBinding, splitSelectors } from "./inputs.js";
import { Meter, audioContext, drawWaves } from "./meters.js";
import { renderOutputs, renderers } from "./outputs.js";
import { JsonSocket } from "./socket.js";

const STATE_TEXT = {
  idle: "Ready",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  listening: "Listening",
  hearing: "Hearing you",
  thinking: "Thinking…",
  speaking: "Speaking",
  receiving: "Receiving",
  live: "Live",
  ended: "Ended",
  error: "Stopped",
};

// ReplyOnPause's turn-taking events, as widget states.
const EVENT_STATE = {
  started_talking: "hearing",
  pause_detected: "thinking",
  response_starting: "speaking",
  response_done: "listening",
  interrupted: "listening",
};

const TURN_HINT =
  "If the browser and the server are on different networks, the site needs a TURN server in settings.RTCSTREAM['ICE_SERVERS'].";

const CLOSED_TEXT = {
  time_limit: "Time limit reached. Press start to begin a new session.",
  handler_closed: "The server ended the stream.",
  stream_ended: "",
  connection_failed: `The media connection failed. ${TURN_HINT}`,
  terminated: "The stream was stopped by an administrator.",
  server_shutdown: "The server is restarting. Please try again in a moment.",
};

const SESSION_TIMEOUT_MS = 10000;
const SLOW_CONNECT_MS = 12000;

class StreamError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Map a getUserMedia failure to a message a visitor can act on. */
function mediaError(err, what) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new StreamError("permission_denied", `Permission to use your ${what} was denied. Allow it in the browser's address bar, then press start again.`);
    case "NotFoundError":
    case "OverconstrainedError":
      return new StreamError("no_device", `No ${what} was found. Connect one, then press start again.`);
    case "NotReadableError":
      return new StreamError("device_busy", `Your ${what} is in use by another application.`);
    default:
      return new StreamError("media_error", `Could not open your ${what}: ${err?.message || err}`);
  }
}

export class RtcStream extends HTMLElement {
  static renderers = renderers;

  #sig = null;
  #outputs = null;
  #pc = null;
  #local = null;
  #session = null;
  #inputs = null;
  #meters = { mic: null, reply: null };
  #frame = 0;
  #timers = {};
  #running = false;
  #closedReason = null;
  #reconnects = 0;
  #lastSeq = 0;
  #sessionWaiter = null;
  #candidatesDone = false;
  #muted = false;
  #preferred = { audio: "", video: "" };

  connectedCallback() {
    if (this.#inputs) return; // moved in the DOM: already wired
    this.mode = this.getAttribute("mode") || "send-receive";
    this.modality = this.getAttribute("modality") || "audio";
    this.#inputs = new InputBinding(this.getAttribute("inputs"), (values) => this.#sendInputs(values));
    this.#part("start")?.addEventListener("click", () => this.start());
    this.#part("stop")?.addEventListener("click", () => this.stop());
    this.#part("mute")?.addEventListener("click", () => this.setMuted(!this.#muted));
    this.#part("speaker")?.addEventListener("click", () => this.#toggleSpeaker());
    for (const [name, kind] of [["mic-select", "audio"], ["camera-select", "video"]]) {
      this.#part(name)?.addEventListener("change", (ev) => this.#switchDevice(kind, ev.target.value));
    }
    const trigger = this.getAttribute("trigger");
    if (trigger) {
      // Bind after the page has parsed, since the trigger may come later in it.
      const bind = () => {
        const el = document.querySelector(trigger);
        if (!el) console.warn(`rtcstream: no element matches the trigger selector ${trigger}`);
        el?.addEventListener("click", (ev) => { ev.preventDefault(); this.trigger(); });
      };
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind, { once: true });
      else bind();
    }
    this.#inputs.bind();
    this.#onPageHide = () => this.#teardown({ sendStop: true });
    window.addEventListener("pagehide", this.#onPageHide);
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.#listDevices());
    if (this.hasAttribute("autostart")) queueMicrotask(() => this.start());
  }

  #onPageHide = null;

  disconnectedCallback() {
    window.removeEventListener("pagehide", this.#onPageHide);
    this.#inputs?.unbind();
    this.#inputs = null;
    this.#teardown({ sendStop: true });
  }

  // -- public API ------------------------------------------------------------

  /** Whether a session is being set up or running. */
  get running() {
    return this.#running;
  }

  /** The current session id, or null. */
  get session() {
    return this.#session?.session ?? null;
  }

  /** Open a session: signalling, outputs, media, offer. */
  async start() {
    if (this.#running) return;
    this.#running = true;
    this.#closedReason = null;
    this.#session = null;
    delete this.dataset.error;
    this.#showMessage("");
    this.#setState(this.#reconnects ? "reconnecting" : "connecting");
    this.#showButtons();
    if (this.modality === "audio") audioContext(); // inside the click, so autoplay rules let the reply play
    try {
      await this.#connect();
    } catch (err) {
      const failed = err instanceof StreamError ? err : new StreamError("error", String(err?.message || err));
      console.warn("rtcstream:", failed.code, failed.message);
      this.#fail(failed.code, failed.message);
    }
  }

  /** End the session (the server releases it at once). */
  stop() {
    if (!this.#running) return;
    this.#teardown({ sendStop: true });
    this.#setState("idle");
  }

  /** Start (receive mode) or ask the handler to run again with the current inputs. */
  trigger() {
    if (!this.#running) {
      this.start();
    } else if (this.#sig?.isOpen && this.#pc) {
      this.#sendInputs(this.#inputs.values());
      this.#sig.send({ type: "trigger" });
    }
  }

  /** Mute or unmute the microphone (the track keeps flowing, as silence). */
  setMuted(muted) {
    this.#muted = muted;
    for (const track of this.#local?.getAudioTracks() ?? []) track.enabled = !muted;
    const button = this.#part("mute");
    if (button) {
      button.setAttribute("aria-pressed", String(muted));
      button.textContent = muted ? "Unmute mic" : "Mute mic";
    }
  }

  /** Summarise RTCPeerConnection.getStats(): packets and bytes per kind and direction. */
  async stats() {
    const blank = () => ({ packets: 0, bytes: 0, frames: 0, energy: 0 });
    const out = {
      state: this.dataset.state,
      session: this.session,
      connection: this.#pc?.connectionState ?? "closed",
      audio: { sent: blank(), received: blank() },
      video: { sent: blank(), received: blank() },
    };
    if (!this.#pc) return out;
    const report = await this.#pc.getStats();
    report.forEach((s) => {
      const kind = s.kind ?? s.mediaType;
      if (kind !== "audio" && kind !== "video") return;
      if (s.type === "outbound-rtp") {
        const t = out[kind].sent;
        t.packets += s.packetsSent ?? 0;
        t.bytes += s.bytesSent ?? 0;
        t.frames += s.framesEncoded ?? 0;
      } else if (s.type === "inbound-rtp") {
        const t = out[kind].received;
        t.packets += s.packetsReceived ?? 0;
        t.bytes += s.bytesReceived ?? 0;
        t.frames += s.framesDecoded ?? 0;
        t.energy += s.totalAudioEnergy ?? 0;
      }
    });
    return out;
  }

  // -- session set-up ----------------------------------------------------------

  async #connect() {
    // Messages from a socket this widget has let go of (after stop) are ignored.
    const sig = new JsonSocket(
      this.getAttribute("ws-path"),
      (m) => sig === this.#sig && this.#onSignal(m),
      (ev) => sig === this.#sig && this.#onSignalClosed(ev),
    );
    this.#sig = sig;
    const session = new Promise((resolve, reject) => {
      this.#sessionWaiter = { resolve, reject };
      this.#timers.session = setTimeout(() => reject(new StreamError("timeout", "The server did not answer. Please try again.")), SESSION_TIMEOUT_MS);
    });
    session.catch(() => {}); // awaited below, unless the socket fails first
    try {
      await sig.opened;
    } catch (err) {
      throw this.#closeCodeError(err.code);
    }
    this.#session = await session;
    clearTimeout(this.#timers.session);
    if (sig !== this.#sig) return; // stopped meanwhile
    this.dataset.session = this.#session.session;
    await this.#openOutputs(this.#session.outputs);
    this.#local = await this.#getMedia();
    if (sig !== this.#sig) return this.#stopTracks(this.#local);
    this.#createPeer(this.#session.ice_servers || []);
    const offer = await this.#pc.createOffer();
    await this.#pc.setLocalDescription(offer);
    sig.send({ type: "offer", sdp: this.#pc.localDescription.sdp, inputs: this.#inputs.values() });
    this.#timers.slow = setTimeout(() => {
      if (this.#pc && this.#pc.connectionState !== "connected") this.#showMessage(`Still connecting… ${TURN_HINT}`, "warning");
    }, SLOW_CONNECT_MS);
  }

  #closeCodeError(code) {
    if (code === 4404) return new StreamError("unknown_endpoint", `The stream "${this.getAttribute("endpoint")}" does not exist or is disabled.`);
    if (code === 4403) return new StreamError("forbidden", "Sign in with an account that may use this stream.");
    if (code === 4429) return new StreamError("too_many_streams", "Too many streams are open from this address. Close one and try again.");
    return new StreamError("connection_failed", "Could not open the stream: the server refused or could not be reached. Check your connection and try again.");
  }

  async #openOutputs(path) {
    if (!path) return;
    this.#lastSeq = 0;
    const sock = new JsonSocket(path, (m) => this.#onOutput(m), () => {});
    this.#outputs = sock;
    try {
      await sock.opened;
    } catch {
      // Media still works without outputs; say so rather than fail the stream.
      console.warn("rtcstream: the outputs socket did not open; outputs will not be shown");
    }
  }

  #constraints(kind) {
    const id = this.#preferred[kind];
    if (kind === "audio") return { deviceId: id ? { exact: id } : undefined, echoCancellation: true, noiseSuppression: true };
    return { deviceId: id ? { exact: id } : undefined, width: { ideal: 640 }, height: { ideal: 480 } };
  }

  async #getMedia() {
    if (this.mode === "receive") return null;
    const what = this.modality === "video" ? "camera" : "microphone";
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new StreamError("insecure_context", `This page cannot use your ${what}: open it over HTTPS (or on localhost).`);
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ [this.modality]: this.#constraints(this.modality) });
    } catch (err) {
      throw mediaError(err, what);
    }
    this.#attachLocal(stream);
    this.#listDevices();
    return stream;
  }

  #attachLocal(stream) {
    if (this.modality === "video") {
      const video = this.#part("local-video");
      if (video) video.srcObject = stream;
    } else {
      this.#meters.mic?.disconnect();
      this.#meters.mic = new Meter(stream);
      this.#startDrawing();
    }
    for (const track of stream.getAudioTracks()) track.enabled = !this.#muted;
  }

  #createPeer(iceServers) {
    const pc = new RTCPeerConnection({ iceServers });
    this.#pc = pc;
    this.#candidatesDone = false;
    pc.addEventListener("icecandidate", (ev) => this.#sendCandidate(ev.candidate));
    pc.addEventListener("track", (ev) => this.#onTrack(ev));
    pc.addEventListener("connectionstatechange", () => {
      this.dataset.connection = pc.connectionState;
      if (pc !== this.#pc) return;
      if (pc.connectionState === "connected") {
        clearTimeout(this.#timers.slow);
        this.#showMessage("");
      } else if (pc.connectionState === "failed") {
        this.#fail("connection_failed", `The media connection failed. ${TURN_HINT}`);
      }
    });
    const send = this.mode !== "receive";
    const track = send ? this.#local.getTracks()[0] : null;
    const direction = this.mode === "send" ? "sendonly" : this.mode === "receive" ? "recvonly" : "sendrecv";
    if (track) pc.addTransceiver(track, { direction, streams: [this.#local] });
    else pc.addTransceiver(this.modality, { direction });
  }

  #sendCandidate(candidate) {
    // Each candidate as it is found (trickle ICE); then one empty candidate, once.
    if (candidate && candidate.candidate) {
      this.#sig?.send({ type: "candidate", candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex });
    } else if (!this.#candidatesDone) {
      this.#candidatesDone = true;
      this.#sig?.send({ type: "candidate", candidate: "", sdpMid: null, sdpMLineIndex: null });
    }
  }

  #onTrack(ev) {
    const stream = ev.streams[0] ?? new MediaStream([ev.track]);
    if (ev.track.kind === "video") {
      const video = this.#part("remote-video");
      if (video) video.srcObject = stream;
      this.#part("placeholder")?.setAttribute("hidden", "");
    } else {
      const audio = this.#part("remote-audio");
      if (audio) {
        // Chrome feeds a remote stream to Web Audio only while a media element plays it.
        audio.srcObject = stream;
        audio.play().catch(() => this.#showMessage("Press start again to hear the reply (the browser blocked autoplay).", "warning"));
      }
      this.#meters.reply?.disconnect();
      this.#meters.reply = new Meter(stream);
      this.#startDrawing();
    }
  }

  // -- messages ------------------------------------------------------------------

  #onSignal(msg) {
    switch (msg.type) {
      case "session":
        this.#sessionWaiter?.resolve(msg);
        break;
      case "answer":
        this.#pc?.setRemoteDescription({ type: "answer", sdp: msg.sdp }).catch((err) => this.#fail("bad_sdp", `The server's answer could not be used: ${err.message}`));
        break;
      case "event":
        this.#onEvent(msg.name, msg.data || {});
        break;
      case "error":
        this.#onError(msg.code, msg.message);
        break;
      case "closed":
        this.#onClosed(msg.reason, msg.message);
        break;
      case "pong":
        break;
      default:
        console.warn("rtcstream: unknown message", msg);
    }
  }

  #onEvent(name, data) {
    this.#emit("rtcstream:event", { name, data });
    if (name === "connected") {
      this.#reconnects = 0;
      this.#setState(this.#liveState());
      this.#startCountdown();
      this.#startStatsAttributes();
    } else if (name in EVENT_STATE && this.#running) {
      this.#setState(EVENT_STATE[name]);
    }
  }

  #liveState() {
    if (this.mode === "receive") return "receiving";
    return this.modality === "audio" ? "listening" : "live";
  }

  #onError(code, message) {
    this.#emit("rtcstream:error", { code, message });
    if (code === "concurrency_limit") {
      this.#fail(code, "This stream is busy: everyone's seat is taken. Please try again in a minute.");
    } else if (code === "bad_sdp" || code === "server_error") {
      this.#fail(code, `The server could not start the stream: ${message}`);
    } else if (code === "handler_error") {
      this.#showMessage(`Server error: ${message}`, "error"); // a `closed` follows
    } else {
      console.warn(`rtcstream: server refused a message (${code}): ${message}`);
    }
  }

  #onClosed(reason, message) {
    this.#closedReason = reason;
    this.#emit("rtcstream:closed", { reason, message });
    const known = CLOSED_TEXT[reason];
    const text = known ?? (reason === "client_stop" ? "" : `The stream ended: ${message || reason}`);
    const isError = reason === "handler_error" || reason === "connection_failed";
    this.#teardown({ sendStop: false });
    this.#setState(isError ? "error" : reason === "stream_ended" ? "ended" : "idle");
    if (reason !== "handler_error" || !this.#part("message")?.textContent) this.#showMessage(text, isError ? "error" : "info");
  }

  #onSignalClosed(ev) {
    if (!this.#running || this.#closedReason) return;
    if (!this.#session) {
      this.#sessionWaiter?.reject(this.#closeCodeError(ev.code)); // #connect reports it
      return;
    }
    // The socket dropped under a live session: the server has already ended it.
    if (this.#reconnects < 1 && this.#session) {
      this.#reconnects += 1;
      this.#teardown({ sendStop: false });
      this.#setState("reconnecting");
      this.#timers.reconnect = setTimeout(() => this.start(), 1000);
      return;
    }
    this.#fail("disconnected", "The connection to the server was lost. Press start to try again.");
  }

  #onOutput(msg) {
    if (msg.type === "end") {
      this.#outputs?.close();
      return;
    }
    if (msg.type !== "output") return;
    if (msg.seq !== this.#lastSeq + 1) console.warn(`rtcstream: outputs ${this.#lastSeq + 1}..${msg.seq - 1} were lost`);
    this.#lastSeq = msg.seq;
    const detail = { values: msg.values, seq: msg.seq, session: this.session };
    const event = new CustomEvent("rtcstream:output", { detail, bubbles: true, composed: true, cancelable: true });
    // A listener may call preventDefault() to replace the built-in rendering.
    if (this.dispatchEvent(event) && this.hasAttribute("outputs")) {
      renderOutputs(splitSelectors(this.getAttribute("outputs")), splitSelectors(this.getAttribute("render")), msg.values);
    }
  }

  #sendInputs(values) {
    if (this.#sig?.isOpen && this.#pc) this.#sig.send({ type: "inputs", values });
  }

  // -- devices ---------------------------------------------------------------------

  async #listDevices() {
    if (this.mode === "receive" || !navigator.mediaDevices?.enumerateDevices) return;
    const kind = this.modality === "video" ? "videoinput" : "audioinput";
    const select = this.#part(this.modality === "video" ? "camera-select" : "mic-select");
    if (!select) return;
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind && d.deviceId);
    const current = this.#local?.getTracks()[0]?.getSettings().deviceId || this.#preferred[this.modality];
    select.replaceChildren(
      ...devices.map((d, i) => new Option(d.label || `${this.modality === "video" ? "Camera" : "Microphone"} ${i + 1}`, d.deviceId, false, d.deviceId === current)),
    );
    select.hidden = devices.length < 2 && !this.hasAttribute("show-devices");
  }

  async #switchDevice(kind, deviceId) {
    this.#preferred[kind] = deviceId;
    if (!this.#running || !this.#local || !this.#pc) return; // used at the next start
    try {
      const fresh = await navigator.mediaDevices.getUserMedia({ [kind]: this.#constraints(kind) });
      const track = fresh.getTracks()[0];
      const sender = this.#pc.getSenders().find((s) => s.track?.kind === kind);
      await sender?.replaceTrack(track);
      this.#stopTracks(this.#local);
      this.#local = fresh;
      this.#attachLocal(fresh);
    } catch (err) {
      this.#showMessage(mediaError(err, kind === "video" ? "camera" : "microphone").message, "error");
    }
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

  #setState(state) {
    if (this.dataset.state === state) return;
    this.dataset.state = state;
    const label = this.#part("state-text");
    if (label) label.textContent = STATE_TEXT[state] ?? state;
    this.#emit("rtcstream:state", { state });
  }

  #showMessage(text, level = "info") {
    const el = this.#part("message");
    if (!el) return;
    el.textContent = text;
    el.dataset.level = level;
    el.hidden = !text;
  }

  #showButtons() {
    const triggered = this.mode === "receive" && this.hasAttribute("trigger");
    const start = this.#part("start");
    const stop = this.#part("stop");
    if (start) start.hidden = this.#running || triggered;
    if (stop) stop.hidden = !this.#running;
    for (const name of ["mute", "speaker"]) {
      const el = this.#part(name);
      if (el) el.hidden = !this.#running;
    }
  }

  #fail(code, message) {
    this.#teardown({ sendStop: true });
    this.#setState("error");
    this.#showMessage(message, "error");
    this.dataset.error = code;
    this.#emit("rtcstream:error", { code, message });
  }

  #startCountdown() {
    const limit = Number(this.#session?.time_limit);
    const timer = this.#part("timer");
    if (!limit || !timer) return;
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

  #startStatsAttributes() {
    // Cheap figures for tests and dashboards: data-packets-sent / data-packets-received.
    this.#timers.stats = setInterval(async () => {
      const s = await this.stats();
      this.dataset.packetsSent = s.audio.sent.packets + s.video.sent.packets;
      this.dataset.packetsReceived = s.audio.received.packets + s.video.received.packets;
    }, 1000);
  }

  #startDrawing() {
    if (this.#frame) return;
    const canvas = this.#part("wave");
    const micMeter = this.#part("mic-meter");
    const replyMeter = this.#part("reply-meter");
    const draw = () => {
      if (this.#meters.mic && micMeter) micMeter.value = this.#meters.mic.level();
      if (this.#meters.reply && replyMeter) replyMeter.value = this.#meters.reply.level();
      if (canvas) {
        drawWaves(canvas, [
          { meter: this.#meters.mic, color: "--rtcs-mic" },
          { meter: this.#meters.reply, color: "--rtcs-reply" },
        ]);
      }
      this.#frame = requestAnimationFrame(draw);
    };
    this.#frame = requestAnimationFrame(draw);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  // -- teardown ----------------------------------------------------------------------

  #stopTracks(stream) {
    for (const track of stream?.getTracks() ?? []) track.stop();
  }

  #teardown({ sendStop }) {
    const sig = this.#sig;
    const outputs = this.#outputs;
    this.#sig = null;
    this.#outputs = null;
    if (sig?.isOpen && sendStop) {
      // The server answers `stop` with `closed` and closes the socket itself;
      // close it from here only if that takes too long.
      sig.send({ type: "stop" });
      setTimeout(() => sig.close(), 2000);
    } else {
      sig?.close();
    }
    // Let the last outputs arrive: the server closes this socket after `closed`.
    if (outputs) setTimeout(() => outputs.close(), 2000);
    this.#pc?.close();
    this.#pc = null;
    this.#stopTracks(this.#local);
    this.#local = null;
    for (const name of ["mic", "reply"]) {
      this.#meters[name]?.disconnect();
      this.#meters[name] = null;
    }
    cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    for (const meter of ["mic-meter", "reply-meter"]) {
      const el = this.#part(meter);
      if (el) el.value = 0;
    }
    for (const id of Object.values(this.#timers)) {
      clearTimeout(id);
      clearInterval(id);
    }
    this.#timers = {};
    this.#part("timer")?.setAttribute("hidden", "");
    for (const name of ["local-video", "remote-video", "remote-audio"]) {
      const el = this.#part(name);
      if (el) el.srcObject = null;
    }
    this.#part("placeholder")?.removeAttribute("hidden");
    this.#running = false;
    this.#sessionWaiter = null;
    this.#showButtons();
  }
}

if (!customElements.get("rtc-stream")) customElements.define("rtc-stream", RtcStream);
