// The connection logic of one <rtc-stream>, apart from the element: signalling
// socket -> session -> outputs socket -> media -> RTCPeerConnection (trickled
// ICE) -> offer/answer, as a state machine the element drives and renders.
//
//   idle --start()--> connecting --"connected"--> live
//   connecting|live --stop()--> stopping --server confirms (or 2 s)--> idle
//   connecting|live --server closed / failure--> idle   (an `end` event says why)
//   live --server restarting (closed: server_shutdown) / socket dropped--> connecting (reconnecting)
//
// Reconnecting: a live session whose server restarts (it drains: `restarting`, then
// `closed` with server_shutdown) or whose socket drops starts a new session, after
// 1, 2, 4, 8, 15 s (±25 %), MAX_RECONNECTS times at most; an attempt that finds no
// server (1006), a draining one (4502) or no answer is tried again. The kernel or the
// proxy gives the new connection to a worker that is up. What survives is the page's:
// its inputs (read again for the offer), mute, the chosen devices; the server's session
// does not (a new session id, a new handler instance, outputs counted from 1).
//
// Transport (config.transport, the tag's transport="..."): "webrtc"; "websocket" (audio as 20 ms
// PCM16 frames on the signalling socket, wsaudio.js: audio-only endpoints whose `session` lists
// "websocket"); or "auto" (the default): WebRTC, and when its connection is not up FALLBACK_MS after
// the answer (or fails sooner; or the browser has no RTCPeerConnection), the websocket where the
// session offers it. Falling back hangs up the WebRTC session (its seat is given back first) and
// opens a new one whose audio goes over the websocket.
//
// Each start() makes a Run; everything a run owns (sockets, peer connection,
// tracks, timers) is released through one path, and every await in it ends on
// its promise, a stop (the run's AbortSignal) or a deadline. Messages, tracks
// and outputs of a run that is no longer current are dropped.
//
// Events (CustomEvent, detail): state {state, reconnecting}, session {session},
// event {name, data}, local {stream}, track {track, stream}, connection {state},
// queue {position, length, estimate} (the offer waits in the endpoint's waiting room),
// output {values, seq, session}, notice {message, level, untilConnected}, consent {recording} (a recorded
// session's answer, sent to the server), error {code, message}
// (a server error that does not end the session), message {data} (a handler's own text, as it
// sent it), transport {transport, fallback} (what carries the media, once it is connected),
// end {session, reason, message, error}. The server's send_input is answered here, with
// the inputs read afresh.

import { within } from "./deadline.js";
import { deviceWord, kindsOf, openMedia, stopTracks } from "./media.js";
import { CLOSED_TEXT, ERROR_REASONS, FALLBACK_TEXT, REFUSED_TEXT, StreamError, TURN_HINT, socketClosedError } from "./messages.js";
import { JsonSocket } from "./socket.js";
import { summarize } from "./stats.js";
import { watchTurn } from "./turn.js";
import { WEBSOCKET_FORMAT, WebsocketAudio, canCarryAudio } from "./wsaudio.js";

const SESSION_TIMEOUT_MS = 10000;
const OUTPUTS_TIMEOUT_MS = 5000;
const ANSWER_TIMEOUT_MS = 20000;
const SLOW_CONNECT_MS = 12000;
const STOP_TIMEOUT_MS = 2000;
const OUTPUTS_GRACE_MS = 2000;
const RECONNECT_DELAY_MS = 1000;
const PENDING_TEXTS = 8; // texts typed before the media connected, sent once it has
const RECONNECT_MAX_DELAY_MS = 15000;
const MAX_RECONNECTS = 6;
// Failures of a reconnect attempt that a restart explains: the next attempt may land on a worker that is up.
const RETRYABLE = new Set(["socket_unavailable", "server_restarting", "timeout"]);
const OUTPUTS_REOPENS = 3;
// transport="auto": how long after the answer WebRTC may take to connect before the audio goes over the websocket.
export const FALLBACK_MS = 5000;

/** The abort reason of a run the visitor stopped, or that ended normally: never shown. */
const STOPPED = new StreamError("stopped", "");

const timeout = (what) => () => new StreamError("timeout", `The server did not answer ${what}. Please try again.`);

/** One session attempt and everything it owns. */
class Run {
  constructor(config, delayMs) {
    this.config = config; // {path, endpoint, mode, modality, transport, inputs: () => values}
    this.delayMs = delayMs;
    this.abort = new AbortController();
    this.sig = null;
    this.outputs = null;
    this.pc = null;
    this.wsAudio = null; // the audio, when it goes over the signalling socket (WebsocketAudio)
    this.transport = null; // "webrtc" or "websocket", once chosen
    this.local = null;
    this.session = null; // the server's `session` message
    this.timers = new Set();
    this.lastSeq = 0;
    this.outputsReopens = 0;
    this.lastInputs = null; // JSON of the values last sent
    this.offered = false;
    this.connected = false;
    this.candidatesDone = false;
    this.pendingTexts = [];
    this.sessionArrived = new Promise((resolve) => { this.resolveSession = resolve; });
    this.answered = new Promise((resolve) => { this.resolveAnswer = resolve; }); // or the `media` reply
    this.inLine = false; // the offer waits in the endpoint's waiting room
    this.queued = new Promise((resolve) => { this.resolveQueued = resolve; });
    this.serverDone = new Promise((resolve) => { this.resolveServerDone = resolve; });
  }

  get signal() {
    return this.abort.signal;
  }

  get id() {
    return this.session?.session ?? null;
  }

  later(ms, fn) {
    const id = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, ms);
    this.timers.add(id);
  }

  /** Release what is local to the page: timers, tracks, and (unless told to keep it) the peer connection. */
  release(reason, { keepPeer = false } = {}) {
    if (!this.signal.aborted) this.abort.abort(reason);
    for (const id of this.timers) clearTimeout(id);
    this.timers.clear();
    stopTracks(this.local);
    this.local = null;
    this.wsAudio?.close();
    this.wsAudio = null;
    if (!keepPeer) this.closePeer();
  }

  closePeer() {
    this.pc?.close();
    this.pc = null;
  }
}

export class StreamController extends EventTarget {
  #state = "idle";
  #run = null; // the run in progress (connecting or live), else null
  #latest = null; // the last run started: its late outputs still render until the next start
  #stopped = Promise.resolve(); // settles when the last session's server side has been let go
  #reconnects = 0;
  #muted = false;
  #preferred = { audio: "", video: "" };
  #switches = { audio: 0, video: 0 }; // device switches begun, by kind (see switchDevice)

  /** "idle", "connecting", "live" or "stopping". */
  get state() {
    return this.#state;
  }

  /** Whether a session is being set up or running. */
  get running() {
    return this.#run !== null;
  }

  /** The current session id, or null. */
  get session() {
    return this.#run?.id ?? null;
  }

  /** The current session's `session` message (time_limit, ...), or null. */
  get sessionInfo() {
    return this.#run?.session ?? null;
  }

  /** The microphone and/or camera stream of the current session, or null. */
  get localStream() {
    return this.#run?.local ?? null;
  }

  /**
   * Open a session. config: {path, endpoint, mode, modality, inputs: () => list of values,
   * consent: (signal) => Promise<boolean>, asked when the session is recorded}.
   */
  start(config) {
    if (this.#run) return Promise.resolve();
    return this.#begin(config, 0);
  }

  /** End the session: local resources at once, the server's side confirmed within 2 s. */
  stop() {
    this.#reconnects = 0;
    const run = this.#run;
    if (!run) return;
    this.#run = null;
    run.release(STOPPED, { keepPeer: true }); // closed after the server's `closed`, so it ends as client_stop
    this.#setState("stopping");
    this.#emit("end", { session: run.id, reason: "client_stop", message: "", error: null });
    this.#stopped = this.#hangUp(run, true).then(() => {
      if (this.#state === "stopping") this.#setState("idle");
    });
  }

  /** Ask a running handler to run again with the current inputs; false when no session is live. */
  trigger() {
    const run = this.#run;
    if (!run?.offered || !run.sig?.isOpen) return false;
    this.sendInputs(run.config.inputs(), { force: true });
    run.sig.send({ type: "trigger" });
    return true;
  }

  /** Send typed text to the handler: now if the media is connected, else once it is. False without a session. */
  sendText(text) {
    const run = this.#run;
    if (!run) return false;
    if (run.connected && run.sig?.isOpen) run.sig.send({ type: "text", text });
    else if (run.pendingTexts.length < PENDING_TEXTS) run.pendingTexts.push(text);
    else return false;
    return true;
  }

  /** Send the input values, unless they are the ones the server already has. */
  sendInputs(values, { force = false } = {}) {
    const run = this.#run;
    if (!run?.offered || !run.sig?.isOpen) return;
    const json = JSON.stringify(values);
    if (!force && json === run.lastInputs) return;
    run.lastInputs = json;
    run.sig.send({ type: "inputs", values });
  }

  /** Mute or unmute the microphone (the track keeps flowing, as silence). */
  setMuted(muted) {
    this.#muted = muted;
    for (const track of this.#run?.local?.getAudioTracks() ?? []) track.enabled = !muted;
  }

  /**
   * Use `deviceId` for `kind`: now if a session is live, else at the next start.
   *
   * Opening the device and replacing the sender's track both take time, and the visitor
   * may press Stop meanwhile: after every await the switch checks that its run is still
   * the current one, and otherwise stops the tracks it opened, so no microphone or camera
   * stays on after Stop. Of switches that overlap, a device opened after a later switch
   * began is closed unused. Only `kind`'s track changes: with audio and video, the other
   * keeps flowing. Never rejects: a failure is reported as a `notice`.
   */
  async switchDevice(kind, deviceId) {
    this.#preferred[kind] = deviceId;
    const run = this.#run;
    if (!run?.local || !(run.pc || run.wsAudio)) return;
    const turn = ++this.#switches[kind];
    const live = () => run === this.#run && !run.signal.aborted && (run.pc !== null || run.wsAudio !== null);
    const latest = () => live() && turn === this.#switches[kind];
    let fresh;
    try {
      const pending = openMedia(kind, { [kind]: deviceId });
      // A device granted after Stop (the wait below has already ended on the abort) is closed at once.
      pending.then((stream) => latest() || stopTracks(stream), () => {});
      fresh = await within(pending, run.signal);
    } catch (err) {
      if (latest()) this.#emit("notice", { message: err.message, level: "error" });
      return;
    }
    if (!latest()) {
      stopTracks(fresh);
      return;
    }
    const sender = run.pc?.getSenders().find((s) => s.track?.kind === kind);
    const track = fresh.getTracks()[0];
    try {
      if (run.wsAudio) run.wsAudio.setMicrophone(fresh);
      else await sender?.replaceTrack(track);
    } catch (err) {
      stopTracks(fresh);
      if (live()) this.#emit("notice", { message: `Could not switch to that ${deviceWord(kind)}: ${err?.message || err}`, level: "warning" });
      return;
    }
    if (!live()) {
      // Stopped while the track was being replaced: the run's release stopped the
      // tracks it knew of, and this one was not yet among them.
      stopTracks(fresh);
      return;
    }
    // The sender sends `track` now, even if a later switch has begun (it replaces it in turn).
    const kept = run.local.getTracks().filter((t) => t.kind !== kind);
    for (const old of run.local.getTracks()) if (old.kind === kind) old.stop();
    run.local = new MediaStream([...kept, track]);
    this.setMuted(this.#muted);
    this.#emit("local", { stream: run.local });
  }

  preferredDevice(kind) {
    return this.#preferred[kind];
  }

  /** getStats() summary of the current session. */
  async stats() {
    const { pc = null, wsAudio = null } = this.#run ?? {};
    if (wsAudio) return { session: this.session, connection: "websocket", ...wsAudio.summary() };
    return { session: this.session, connection: pc?.connectionState ?? "closed", ...(await summarize(pc)) };
  }

  // -- a run, step by step ----------------------------------------------------------------

  #begin(config, delayMs) {
    const run = new Run(config, delayMs);
    this.#latest?.outputs?.close(); // outputs of an earlier session never render into this one
    this.#run = run;
    this.#latest = run;
    this.#setState("connecting", { reconnecting: this.#reconnects > 0 });
    return this.#connect(run).catch((err) => {
      if (run !== this.#run) return; // stopped or replaced meanwhile: not an error
      const error = err instanceof StreamError ? err : new StreamError("error", String(err?.message || err));
      // A draining worker (4502) is retried at once; after a restart, so is finding no server or no answer.
      const retry = error.code === "server_restarting" || (this.#reconnects > 0 && RETRYABLE.has(error.code));
      if (retry && this.#reconnects < MAX_RECONNECTS) this.#retry(run);
      else this.#fail(run, error);
    });
  }

  /**
   * Start the session again, after the next backoff delay: its server restarts, or its socket dropped.
   * A session the server has not closed is told to stop first (its seat is given back).
   */
  #retry(run, { serverClosed = false } = {}) {
    this.#reconnects += 1;
    this.#run = null;
    run.release(STOPPED, { keepPeer: true });
    this.#stopped = this.#hangUp(run, !serverClosed);
    const delay = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_DELAY_MS * 2 ** (this.#reconnects - 1));
    this.#begin(run.config, Math.round(delay * (0.75 + Math.random() * 0.5)));
  }

  async #connect(run) {
    const { signal, config } = run;
    if (run.delayMs) await within(new Promise((resolve) => setTimeout(resolve, run.delayMs)), signal);
    await within(this.#stopped, signal); // the last session's seat is released first
    const sig = new JsonSocket(config.path, (m) => this.#onSignal(run, m), (ev, wasOpen) => this.#onSignalClosed(run, ev, wasOpen));
    run.sig = sig;
    const closedEarly = (err) => socketClosedError(err.code, { endpoint: config.endpoint, path: config.path, opened: false });
    await within(sig.opened.catch((err) => { throw closedEarly(err); }), signal, SESSION_TIMEOUT_MS, timeout("the stream's websocket"));
    run.session = await within(run.sessionArrived, signal, SESSION_TIMEOUT_MS, timeout("with a session"));
    this.#emit("session", { session: run.id });
    await this.#openOutputs(run);
    if (run.session.recording) {
      // Asked before any capture; the server records nothing until it hears yes.
      const recording = await within(config.consent?.(signal) ?? Promise.resolve(false), signal);
      sig.send({ type: "consent", recording });
      this.#emit("consent", { recording });
    }
    if (config.mode !== "receive") {
      run.local = await this.#openMedia(run);
      this.setMuted(this.#muted);
      this.#emit("local", { stream: run.local });
    }
    run.transport = this.#transportFor(run);
    if (run.transport === "websocket") {
      await this.#requestWebsocketAudio(run);
      return;
    }
    const pc = this.#createPeer(run);
    const offer = await within(pc.createOffer(), signal);
    await within(pc.setLocalDescription(offer), signal);
    const values = config.inputs();
    run.lastInputs = JSON.stringify(values);
    sig.send({ type: "offer", sdp: pc.localDescription.sdp, inputs: values });
    run.offered = true;
    this.#noticeSlowConnect(run);
    const first = Promise.race([run.answered.then(() => "answered"), run.queued.then(() => "queued")]);
    if ((await within(first, signal, ANSWER_TIMEOUT_MS, timeout("the offer"))) === "queued") {
      // In the waiting room: the server answers when a seat is ours, or refuses (at its longest wait).
      await within(run.answered, signal);
      this.#noticeSlowConnect(run);
    }
    if (this.#mayFallBack(run)) {
      run.later(FALLBACK_MS, () => !run.connected && this.#fallBack(run, `no connection within ${FALLBACK_MS / 1000} s`));
    }
  }

  /** What carries this run's media: the page's choice, or (auto) WebRTC where the browser has it. */
  #transportFor(run) {
    const wanted = run.config.transport || "auto";
    if (wanted === "webrtc") return "webrtc";
    const offered = (run.session.transports ?? ["webrtc"]).includes("websocket") && canCarryAudio();
    if (wanted === "websocket" && !offered) {
      throw new StreamError("unsupported_transport", "This stream cannot carry its audio over the websocket here (the server does not offer it for this endpoint, or the browser has no AudioWorklet).");
    }
    return wanted === "websocket" || (typeof RTCPeerConnection !== "function" && offered) ? "websocket" : "webrtc";
  }

  /** Whether a WebRTC run that does not connect may go on over the websocket (transport="auto"). */
  #mayFallBack(run) {
    const wanted = run.config.transport || "auto";
    return wanted === "auto" && run.transport === "webrtc" && !run.connected && (run.session?.transports ?? []).includes("websocket") && canCarryAudio();
  }

  /**
   * WebRTC did not connect: hang up its session (the server gives its seat back before the next one
   * asks) and start a new one whose audio goes over the websocket. The page keeps its state "connecting".
   */
  #fallBack(run, why, { serverClosed = false } = {}) {
    if (run !== this.#run || !this.#mayFallBack(run)) return false;
    this.#run = null;
    run.release(STOPPED, { keepPeer: true });
    this.#stopped = this.#hangUp(run, !serverClosed, "fallback");
    this.#begin({ ...run.config, transport: "websocket", fellBack: true }, 0);
    this.#emit("notice", { message: FALLBACK_TEXT(why), level: "info" });
    return true;
  }

  /** Ask for the audio over the signalling socket (a `media` message instead of an offer). */
  async #requestWebsocketAudio(run) {
    const { signal, config, sig } = run;
    run.audioContext = await within(WebsocketAudio.prepare(), signal);
    const values = config.inputs();
    run.lastInputs = JSON.stringify(values);
    sig.send({ type: "media", transport: "websocket", ...WEBSOCKET_FORMAT, inputs: values });
    run.offered = true;
    const first = Promise.race([run.answered.then(() => "answered"), run.queued.then(() => "queued")]);
    if ((await within(first, signal, ANSWER_TIMEOUT_MS, timeout("the request for audio"))) === "queued") {
      await within(run.answered, signal);
    }
  }

  /** The server's `media` reply: the audio flows from now on, both ways, in the format it names. */
  #onMedia(run, reply) {
    run.inLine = false;
    if (!run.audioContext || run.wsAudio) return;
    run.wsAudio = new WebsocketAudio(run.audioContext, run.sig, run.local, reply);
    run.sig.onBinary = (frame) => run.wsAudio?.receive(frame);
    const stream = run.wsAudio.stream;
    this.#emit("track", { track: stream.getAudioTracks()[0], stream });
    run.resolveAnswer();
  }

  #noticeSlowConnect(run) {
    run.later(SLOW_CONNECT_MS, () => {
      if (!run.connected && !run.inLine) this.#emit("notice", { message: `Still connecting… ${TURN_HINT}`, level: "warning", untilConnected: true });
    });
  }

  async #openOutputs(run) {
    const path = run.session.outputs;
    if (!path) return;
    run.outputs = new JsonSocket(path, (m) => this.#onOutput(run, m), (ev) => this.#onOutputsClosed(run, ev));
    try {
      await within(run.outputs.opened, run.signal, OUTPUTS_TIMEOUT_MS);
    } catch (err) {
      if (run.signal.aborted) throw err;
      // Media still works without outputs; say so rather than fail the stream.
      console.warn("rtcstream: the outputs socket did not open; outputs will not be shown");
    }
  }

  /** Open the devices; a stream that arrives after the run ended is stopped at once. */
  async #openMedia(run) {
    const pending = openMedia(run.config.modality, this.#preferred);
    pending.then((stream) => run.signal.aborted && stopTracks(stream), () => {});
    return within(pending, run.signal);
  }

  #createPeer(run) {
    const policy = run.session.ice_transport_policy || "all";
    const pc = new RTCPeerConnection({ iceServers: run.session.ice_servers || [], iceTransportPolicy: policy });
    run.pc = pc;
    // A relay-only page whose TURN server gave no relay address cannot connect by WebRTC: it falls back
    // (transport "auto") at once, or fails with the TURN server's words.
    const turnError = watchTurn(pc, policy, (code, message) => run === this.#run && !this.#fallBack(run, message) && this.#fail(run, new StreamError(code, message)));
    const { mode, modality } = run.config;
    pc.addEventListener("icecandidate", (ev) => run === this.#run && this.#sendCandidate(run, ev.candidate));
    pc.addEventListener("track", (ev) => {
      if (run === this.#run) this.#emit("track", { track: ev.track, stream: ev.streams[0] ?? new MediaStream([ev.track]) });
    });
    pc.addEventListener("connectionstatechange", () => {
      if (run !== this.#run) return;
      this.#emit("connection", { state: pc.connectionState });
      if (pc.connectionState === "failed" && !this.#fallBack(run, "the connection failed")) this.#fail(run, new StreamError("connection_failed", `The media connection failed. ${turnError() || TURN_HINT}`));
    });
    const direction = mode === "send" ? "sendonly" : mode === "receive" ? "recvonly" : "sendrecv";
    // One transceiver per kind: the local track when there is one, else receive only.
    for (const kind of kindsOf(modality)) {
      const track = run.local?.getTracks().find((t) => t.kind === kind);
      if (track) pc.addTransceiver(track, { direction, streams: [run.local] });
      else pc.addTransceiver(kind, { direction });
    }
    return pc;
  }

  #sendCandidate(run, candidate) {
    // Each candidate as it is found (trickle ICE); then one empty candidate, once.
    if (candidate && candidate.candidate) {
      run.sig?.send({ type: "candidate", candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex });
    } else if (!run.candidatesDone) {
      run.candidatesDone = true;
      run.sig?.send({ type: "candidate", candidate: "", sdpMid: null, sdpMLineIndex: null });
    }
  }

  // -- messages -----------------------------------------------------------------------------

  #onSignal(run, msg) {
    if (msg.type === "closed") run.resolveServerDone();
    if (run !== this.#run) return; // a run that was stopped or replaced
    switch (msg.type) {
      case "session":
        run.resolveSession(msg);
        break;
      case "queue":
        run.inLine = true;
        run.resolveQueued();
        this.#emit("queue", { position: msg.position, length: msg.length, estimate: msg.estimate ?? null });
        break;
      case "answer":
        run.inLine = false;
        run.pc?.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(
          () => run.resolveAnswer(),
          (err) => run === this.#run && this.#fail(run, new StreamError("bad_sdp", `The server's answer could not be used: ${err.message}`)),
        );
        break;
      case "media":
        this.#onMedia(run, msg);
        break;
      case "clear":
        run.wsAudio?.clear(); // barge-in: what the reply had queued here is not played
        break;
      case "event":
        this.#onEvent(run, msg.name, msg.data || {});
        break;
      case "error":
        this.#onError(run, msg.code, msg.message);
        break;
      case "restarting":
        // The session runs on (msg.seconds at most), then ends with server_shutdown and starts again.
        this.#emit("notice", { message: `${msg.message} This stream reconnects by itself.`, level: "warning", untilConnected: true });
        break;
      case "closed":
        if (msg.reason === "server_shutdown" && this.#reconnects < MAX_RECONNECTS) {
          this.#emit("notice", { message: msg.message || CLOSED_TEXT.server_shutdown, level: "warning", untilConnected: true });
          this.#retry(run, { serverClosed: true });
        } else if (!(msg.reason === "connection_failed" && this.#fallBack(run, "the connection failed", { serverClosed: true }))) {
          this.#end(run, msg.reason, msg.message || "");
        }
        break;
      case "message":
        this.#emit("message", { data: msg.data });
        break;
      case "warning":
        this.#emit("warning", { message: String(msg.message ?? "") }); // the handler's words; the session goes on
        break;
      case "send_input":
        this.sendInputs(run.config.inputs(), { force: true }); // the handler waits for the values now
        break;
      case "pong":
        break;
      default:
        console.warn("rtcstream: unknown message", msg);
    }
  }

  #onEvent(run, name, data) {
    this.#emit("event", { name, data });
    if (name === "connected" && !run.connected) {
      run.connected = true;
      this.#reconnects = 0;
      this.#emit("transport", { transport: run.transport, fallback: Boolean(run.config.fellBack) });
      if (run.transport === "websocket") this.#emit("connection", { state: "connected" }); // as a peer connection's
      this.#setState("live");
      for (const text of run.pendingTexts.splice(0)) run.sig?.send({ type: "text", text });
    }
  }

  #onError(run, code, message) {
    const refused = REFUSED_TEXT[code];
    if (refused) {
      this.#fail(run, new StreamError(code, refused(message)));
    } else if (code === "unsupported_transport" && !run.connected) {
      this.#fail(run, new StreamError(code, `The server could not start the stream: ${message}`)); // its `media` refused
    } else {
      this.#emit("error", { code, message }); // handler_error, media_error: a `closed` follows
      if (!ERROR_REASONS.has(code)) console.warn(`rtcstream: server refused a message (${code}): ${message}`);
    }
  }

  #onSignalClosed(run, ev, wasOpen) {
    run.resolveServerDone();
    if (run !== this.#run) return;
    const { config } = run;
    if (!run.session) {
      this.#fail(run, socketClosedError(ev.code, { endpoint: config.endpoint, path: config.path, opened: wasOpen }));
    } else if (run.connected && this.#reconnects < MAX_RECONNECTS) {
      // The socket dropped under a live session: the server has already ended it. Start again.
      this.#retry(run, { serverClosed: true });
    } else {
      this.#fail(run, new StreamError("disconnected", "The connection to the server was lost. Press start to try again."));
    }
  }

  /**
   * The outputs socket closed without its `end`: the worker that served it stopped (it may hold
   * the outputs socket of a session that lives on another worker). Open it again: the token is
   * good while the session lives, and the new socket lands on a worker that is up.
   */
  #onOutputsClosed(run, ev) {
    if (run !== this.#run || !run.connected || ev.code === 1000 || run.outputsReopens >= OUTPUTS_REOPENS) return;
    run.outputsReopens += 1;
    run.later(RECONNECT_DELAY_MS, () => {
      if (run !== this.#run) return;
      run.outputs = new JsonSocket(run.session.outputs, (m) => this.#onOutput(run, m), (e) => this.#onOutputsClosed(run, e));
    });
  }

  #onOutput(run, msg) {
    if (run !== this.#latest) return; // an earlier session's output: never shown in this one
    if (msg.type === "end") {
      run.outputs?.close();
      return;
    }
    if (msg.type !== "output") return;
    if (msg.seq !== run.lastSeq + 1) console.warn(`rtcstream: outputs ${run.lastSeq + 1}..${msg.seq - 1} were lost`);
    run.lastSeq = msg.seq;
    this.#emit("output", { values: msg.values, seq: msg.seq, session: run.id });
  }

  // -- endings -----------------------------------------------------------------------------

  /** The server closed the session. */
  #end(run, reason, message) {
    this.#run = null;
    run.release(STOPPED);
    this.#closeSockets(run);
    this.#emit("end", { session: run.id, reason, message, error: null });
    this.#setState("idle");
  }

  /** The session failed here: tell the server (it releases the seat), then report. */
  #fail(run, error) {
    if (run !== this.#run) return;
    this.#run = null;
    run.release(STOPPED, { keepPeer: true });
    this.#stopped = this.#hangUp(run, true);
    this.#emit("end", { session: run.id, reason: error.code, message: error.message, error });
    this.#setState("idle");
  }

  /**
   * Send `stop` (with its `reason`, if any: "fallback") and wait (at most 2 s) for the server's `closed`
   * or its close, then close the peer connection and the sockets (closing the media first could end the
   * session as `disconnected`).
   */
  async #hangUp(run, sendStop, reason = undefined) {
    // Never rejects: the next start awaits this (#stopped), and nothing else listens to it.
    try {
      if (sendStop && run.sig?.isOpen) {
        run.sig.send(reason ? { type: "stop", reason } : { type: "stop" });
        await Promise.race([run.serverDone, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))]);
      }
    } catch (err) {
      console.warn("rtcstream: could not tell the server to stop", err);
    } finally {
      run.closePeer();
      this.#closeSockets(run);
    }
  }

  #closeSockets(run) {
    run.sig?.close();
    // Let the last outputs arrive: the server's `end` follows them (#onOutput hangs up on it), OUTPUTS_GRACE_MS at most.
    const outputs = run.outputs;
    if (outputs) setTimeout(() => outputs.close(), OUTPUTS_GRACE_MS);
  }

  /** Leaving the page: send `stop` now, wait for nothing. */
  leave() {
    const run = this.#run;
    this.stop();
    run?.sig?.close();
  }

  // -- events -------------------------------------------------------------------------------

  #setState(state, extra = {}) {
    this.#state = state;
    this.#emit("state", { state, ...extra });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
