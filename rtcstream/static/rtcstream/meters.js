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

/** Draw one waveform per meter across the canvas, each in its colour. */
export function drawWaves(canvas, layers) {
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  const style = getComputedStyle(canvas);
  g.lineWidth = 2 * (window.devicePixelRatio || 1);
  for (const { meter, color } of layers) {
    if (!meter) continue;
    const data = meter.samples; // filled by level() this frame
    g.strokeStyle = style.getPropertyValue(color).trim() || "#888";
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
