// The audio thread's half of audio over the websocket (wsaudio.js): loaded with
// audioWorklet.addModule() from the static files (a module of the site, so a strict CSP's
// script-src 'self' allows it).
//
// rtcs-capture: the microphone at the context's rate -> PCM16 at `rate`, posted to the main
// thread as one ArrayBuffer per 20 ms frame.
// rtcs-playback: 20 ms PCM16 frames at `rate` from the main thread -> the context's rate, in a
// bounded ring buffer played as it fills; "clear" drops what it holds (barge-in).

/** Linear interpolation from one rate to another, block after block (state kept between blocks). */
class Resampler {
  constructor(from, to) {
    this.step = from / to; // input samples per output sample
    this.taps = Math.max(1, Math.round(this.step)); // a box filter before decimating: less aliasing
    this.history = new Float32Array(this.taps);
    this.sum = 0;
    this.index = 0;
    this.prev = 0; // the last (filtered) input sample of the previous block
    this.t = 0; // where the next output sample falls, in input samples after `prev`'s position
  }

  reset() {
    this.history.fill(0);
    this.sum = 0;
    this.prev = 0;
    this.t = 0;
  }

  /** Call emit(sample) for each output sample `input` completes. */
  push(input, emit) {
    const n = input.length;
    for (let i = 0; i < n; i++) {
      let x = input[i];
      if (this.taps > 1) {
        this.sum += x - this.history[this.index];
        this.history[this.index] = x;
        this.index = (this.index + 1) % this.taps;
        x = this.sum / this.taps;
      }
      // Output samples that fall between prev (at t = 0) and x (at t = 1).
      while (this.t <= 1) {
        emit(this.prev + (x - this.prev) * this.t);
        this.t += this.step;
      }
      this.t -= 1;
      this.prev = x;
    }
  }
}

const SILENCE = new Float32Array(128); // one render quantum

class Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { rate } = options.processorOptions;
    this.resampler = new Resampler(sampleRate, rate);
    this.size = Math.round(rate / 50);
    this.frame = new Int16Array(this.size);
    this.filled = 0;
    this.emit = (sample) => {
      const s = Math.max(-1, Math.min(1, sample));
      this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.filled === this.size) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(this.size);
        this.filled = 0;
      }
    };
  }

  process(inputs) {
    // No channel: a muted microphone in Firefox (its disabled track's source goes quiet with zero
    // channels; Chromium gives zeros). Silence is sent all the same, so the server hears the pause,
    // as it does over WebRTC, instead of a stream that stops.
    this.resampler.push(inputs[0]?.[0] ?? SILENCE, this.emit);
    return true;
  }
}

class Playback extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { rate, capacity, prebuffer } = options.processorOptions;
    this.resampler = new Resampler(rate, sampleRate);
    this.ring = new Float32Array(Math.round(capacity * sampleRate));
    this.read = 0;
    this.length = 0;
    this.dropped = 0;
    this.prebuffer = Math.round(prebuffer * sampleRate);
    this.playing = false;
    this.waited = 0; // samples of time the buffer has held something without playing
    this.emit = (sample) => {
      if (this.length === this.ring.length) {
        // Full: the oldest sample goes (the buffer is bounded whatever the server sends).
        this.read = (this.read + 1) % this.ring.length;
        this.length -= 1;
        this.dropped += 1;
      }
      this.ring[(this.read + this.length) % this.ring.length] = sample;
      this.length += 1;
    };
    this.port.onmessage = (ev) => {
      if (ev.data === "clear") {
        this.length = 0;
        this.playing = false;
        this.waited = 0;
        this.resampler.reset();
        return;
      }
      const pcm = new Int16Array(ev.data);
      const floats = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i] / 0x8000;
      this.resampler.push(floats, this.emit);
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.length > 0) {
      // Start once a few frames are in (a jitter buffer), or once the first has waited that long
      // (a reply's short tail).
      this.waited += out.length;
      if (this.length >= this.prebuffer || this.waited >= this.prebuffer) this.playing = true;
    }
    if (!this.playing) {
      out.fill(0);
      return true;
    }
    for (let i = 0; i < out.length; i++) {
      if (this.length > 0) {
        out[i] = this.ring[this.read];
        this.read = (this.read + 1) % this.ring.length;
        this.length -= 1;
      } else {
        out[i] = 0;
      }
    }
    if (this.length === 0) {
      this.playing = false; // ran dry: buffer again before playing on
      this.waited = 0;
    }
    return true;
  }
}

registerProcessor("rtcs-capture", Capture);
registerProcessor("rtcs-playback", Playback);
