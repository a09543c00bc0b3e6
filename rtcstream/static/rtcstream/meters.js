// Audio levels and waveforms from MediaStreams, with one shared AudioContext.

let context = null;

/** Return the page's AudioContext, resumed (call from a click so autoplay rules allow it). */
export function audioContext() {
  if (!context) context = new AudioContext();
  if (context.state === "suspended") context.resume().catch(() => {});
  return context;
}

export class Meter {
  constructor(stream) {
    const ctx = audioContext();
    this.source = ctx.createMediaStreamSource(stream);
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.analyser.smoothingTimeConstant = 0.6;
    this.samples = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser); // not to the destination: the meter is silent
    this.peak = 0;
  }

  /** Return the RMS level, 0..1, with a slow fall so speech reads steadily. */
  level() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    const rms = Math.min(1, Math.sqrt(sum / this.samples.length) * 4);
    this.peak = Math.max(rms, this.peak * 0.92);
    return this.peak;
  }

  disconnect() {
    this.source.disconnect();
  }
}

const QUIET = 0.01; // a level below this on every meter draws a flat line: drawn once, then left
const FPS = 30; // meters and waves are redrawn at most this often

/**
 * Meters and waveforms for one session. Redrawn at most FPS times a second and
 * not at all while every meter stays quiet, so an idle session costs the page
 * no painting (software rasterising a canvas every frame is most of a tab's CPU).
 */
export class LevelView {
  constructor({ canvas, micMeter, replyMeter }) {
    this.canvas = canvas;
    this.elements = { mic: micMeter, reply: replyMeter };
    this.last = -Infinity;
    this.drawnQuiet = false;
    const style = canvas ? getComputedStyle(canvas) : null;
    this.colors = {
      mic: style?.getPropertyValue("--rtcs-mic").trim() || "#888",
      reply: style?.getPropertyValue("--rtcs-reply").trim() || "#888",
    };
  }

  /** Call on every animation frame with its timestamp and the session's meters ({mic, reply}). */
  draw(now, meters) {
    if (now - this.last < 1000 / FPS - 4) return; // slack: every other frame of a 60 Hz display
    this.last = now;
    let quiet = true;
    for (const name of ["mic", "reply"]) {
      const meter = meters[name];
      if (!meter) continue;
      const level = meter.level();
      if (level >= QUIET) quiet = false;
      const element = this.elements[name];
      if (element && Math.abs(element.value - level) > 0.005) element.value = level;
    }
    if (!this.canvas || (quiet && this.drawnQuiet)) return;
    this.drawnQuiet = quiet;
    drawWaves(
      this.canvas,
      ["mic", "reply"].map((name) => ({ meter: meters[name], color: this.colors[name] })),
    );
  }
}

/** Draw one waveform per meter across the canvas, each in its colour. */
function drawWaves(canvas, layers) {
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  g.lineWidth = 2 * (window.devicePixelRatio || 1);
  for (const { meter, color } of layers) {
    if (!meter) continue;
    const data = meter.samples; // filled by level() this frame
    g.strokeStyle = color;
    g.beginPath();
    const step = data.length / width;
    for (let x = 0; x < width; x += 2) {
      const y = height / 2 + data[Math.floor(x * step)] * height * 0.9;
      if (x === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    }
    g.stroke();
  }
}
