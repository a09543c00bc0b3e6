// Audio over the signalling websocket (docs/protocol.md, "Audio over the websocket"): the
// microphone as 20 ms PCM16 frames, the reply played as its frames arrive. The audio thread's
// work is in audio-worklet.js; this is the main thread's: the nodes, the socket, the counts.

import { audioContext } from "./meters.js";

// What the page asks the server for: 16 kHz speech, a tenth of 48 kHz's bytes.
export const WEBSOCKET_FORMAT = { codec: "pcm16", rate: 16000 };
const CAPACITY_S = 2; // the most reply audio held for playing; beyond it the oldest is dropped
const PREBUFFER_S = 0.06; // a few frames in before playing (the server sends in real time, 0.1 s ahead)
const MAX_BUFFERED_BYTES = 32000; // a second of microphone the socket has not sent: newer frames are dropped

const modules = new WeakMap(); // AudioContext -> the promise of its worklet module

function loadModule(ctx) {
  if (!modules.has(ctx)) modules.set(ctx, ctx.audioWorklet.addModule(new URL("./audio-worklet.js", import.meta.url)));
  return modules.get(ctx);
}

/** Whether this browser can carry audio over the websocket (an AudioWorklet). */
export function canCarryAudio() {
  return typeof AudioWorkletNode === "function" && typeof AudioContext === "function";
}

export class WebsocketAudio {
  /** Load what the audio thread needs (before the `media` request: frames flow from its reply on). */
  static async prepare() {
    const ctx = audioContext();
    if (ctx.state === "suspended") {
      // Started without a click (autostart): the browser lets the audio run from the visitor's first gesture.
      const resume = () => ctx.resume().catch(() => {});
      for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, resume, { once: true, capture: true });
    }
    await loadModule(ctx);
    return ctx;
  }

  /**
   * ctx: the prepared AudioContext; socket: a JsonSocket (binary frames); local: the microphone's
   * MediaStream or null (receive only); format: the server's `media` reply {codec, rate, frame_bytes}.
   */
  constructor(ctx, socket, local, format) {
    this.ctx = ctx;
    this.socket = socket;
    this.format = format;
    this.counts = { sent: { packets: 0, bytes: 0 }, received: { packets: 0, bytes: 0 }, dropped: 0 };
    this.source = null;
    this.capture = null;
    this.playback = new AudioWorkletNode(ctx, "rtcs-playback", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: { rate: format.rate, capacity: CAPACITY_S, prebuffer: PREBUFFER_S },
    });
    this.sink = ctx.createMediaStreamDestination();
    this.playback.connect(this.sink);
    /** The reply as a MediaStream: the page plays it and meters it as it would WebRTC's remote track. */
    this.stream = this.sink.stream;
    if (local) this.setMicrophone(local);
  }

  /** Send `stream`'s audio from now on (the first, or a device the visitor switched to). */
  setMicrophone(stream) {
    this.source?.disconnect();
    this.source = this.ctx.createMediaStreamSource(stream);
    if (!this.capture) {
      this.capture = new AudioWorkletNode(this.ctx, "rtcs-capture", { processorOptions: { rate: this.format.rate } });
      this.capture.port.onmessage = (ev) => this.#send(ev.data);
      // Silent, to the speakers: every browser then runs the node (a node with no way out may not be).
      this.mute = this.ctx.createGain();
      this.mute.gain.value = 0;
      this.capture.connect(this.mute).connect(this.ctx.destination);
    }
    this.source.connect(this.capture);
  }

  #send(frame) {
    if (!this.socket.isOpen) return;
    if (this.socket.buffered > MAX_BUFFERED_BYTES) {
      this.counts.dropped += 1; // the network is slower than real time: the freshest audio matters most
      return;
    }
    this.socket.sendBinary(frame);
    this.counts.sent.packets += 1;
    this.counts.sent.bytes += frame.byteLength;
  }

  /** A frame of the reply: queued for playing. */
  receive(frame) {
    this.counts.received.packets += 1;
    this.counts.received.bytes += frame.byteLength;
    if (frame.byteLength === this.format.frame_bytes) this.playback.port.postMessage(frame, [frame]);
  }

  /** Barge-in: drop what was received and not yet played. */
  clear() {
    this.playback.port.postMessage("clear");
  }

  /** Counts in the shape of stats.js's summary: frames sent and received (a frame is 20 ms). */
  summary() {
    const row = ({ packets, bytes }) => ({ packets, bytes, frames: packets, energy: 0 });
    const none = { packets: 0, bytes: 0, frames: 0, energy: 0 };
    return {
      audio: { sent: row(this.counts.sent), received: row(this.counts.received) },
      video: { sent: none, received: none },
      dropped: this.counts.dropped,
    };
  }

  close() {
    this.source?.disconnect();
    if (this.capture) {
      this.capture.port.onmessage = null;
      this.capture.disconnect();
      this.mute.disconnect();
    }
    this.playback.port.postMessage("clear");
    this.playback.disconnect();
    for (const track of this.stream.getTracks()) track.stop();
  }
}
