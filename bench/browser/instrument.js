// The browser bench's init script: runs in the page before its own scripts.
//
// It records, on the wall clock (performance.timeOrigin + performance.now(), ms):
// - window.__bench.local: [context time, rms] every 512 frames of the microphone
//   track (getUserMedia wrapped), to place the fake microphone's file on the clock;
// - window.__bench.remote: the same for the first remote audio track
//   (RTCPeerConnection wrapped), what the user hears; with rtcstream's audio over the
//   websocket, the reply's stream the widget plays (its <audio>, once rtcstream:transport says so);
// - window.__bench.clock: [context time, wall ms] pairs (getOutputTimestamp), and
//   window.__bench.latency: the context's base and output latency (s);
// - window.__bench.stats: inbound-rtp audio getStats every 250 ms (with the outbound audio's packetsSent);
// - window.__bench.events: [t, name, detail] for rtcstream's turn events
//   (the widget's rtcstream:event) and FastRTC's data-channel messages.
(() => {
  // Firefox runs init scripts in a new window's first about:blank too, which is not a secure
  // context: it has no navigator.mediaDevices, and nothing to measure.
  if (!navigator.mediaDevices) return;
  const now = () => performance.timeOrigin + performance.now();
  const bench = (window.__bench = { local: [], remote: [], stats: [], events: [], marks: {} });
  // Levels are measured on the audio thread (an AudioWorklet: every 512 frames, the RMS and
  // the context time of the block), so a busy main thread loses no samples; the main thread
  // records getOutputTimestamp() pairs that map context time to the wall clock.
  const WORKLET = `
    class BenchLevel extends AudioWorkletProcessor {
      constructor() { super(); this.sum = 0; this.frames = 0; this.start = 0; this.out = []; }
      process(inputs) {
        const channel = inputs[0] && inputs[0][0];
        if (this.frames === 0) this.start = currentTime;
        if (channel) for (let i = 0; i < channel.length; i++) this.sum += channel[i] * channel[i];
        this.frames += 128;
        if (this.frames >= 512) {
          this.out.push(this.start, Math.sqrt(this.sum / this.frames));
          this.sum = 0; this.frames = 0;
          if (this.out.length >= 40) { this.port.postMessage(this.out); this.out = []; }
        }
        return true;
      }
    }
    registerProcessor("bench-level", BenchLevel);`;
  let context = null;
  let ready = null;
  const audioContext = async () => {
    if (!context) {
      context = new AudioContext();
      bench.clock = [];
      bench.latency = { base: context.baseLatency, output: context.outputLatency, rate: context.sampleRate };
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      ready = context.audioWorklet.addModule(url);
      setInterval(() => {
        const ts = context.getOutputTimestamp();
        if (ts.contextTime > 0) bench.clock.push([ts.contextTime, performance.timeOrigin + ts.performanceTime]);
        bench.latency.output = context.outputLatency;
      }, 250);
    }
    if (context.state !== "running") context.resume();
    await ready;
    return context;
  };

  // out receives [context time (s), rms] pairs.
  async function envelope(track, out) {
    const ctx = await audioContext();
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const meter = new AudioWorkletNode(ctx, "bench-level");
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(meter).connect(mute).connect(ctx.destination);
    meter.port.onmessage = (ev) => {
      for (let i = 0; i < ev.data.length; i += 2) out.push([ev.data[i], ev.data[i + 1]]);
    };
    bench.keep = (bench.keep || []).concat([source, meter, mute]); // no garbage collection
  }

  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    const track = stream.getAudioTracks()[0];
    if (track && !bench.marks.microphone) {
      bench.marks.microphone = now();
      envelope(track, bench.local);
    }
    return stream;
  };

  const STATS = [
    "jitterBufferDelay",
    "jitterBufferTargetDelay",
    "jitterBufferMinimumDelay",
    "jitterBufferEmittedCount",
    "totalSamplesReceived",
    "concealedSamples",
    "silentConcealedSamples",
    "concealmentEvents",
    "insertedSamplesForDeceleration",
    "removedSamplesForAcceleration",
    "packetsReceived",
    "packetsLost",
    "packetsDiscarded",
    "jitter",
  ];

  function poll(pc) {
    const timer = setInterval(async () => {
      if (pc.connectionState === "closed") return clearInterval(timer);
      const report = await pc.getStats();
      let sent;
      report.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "audio") sent = s.packetsSent;
      });
      report.forEach((s) => {
        if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
        const row = { t: now(), packetsSent: sent };
        for (const key of STATS) row[key] = s[key];
        bench.stats.push(row);
      });
    }, 250);
  }

  const Native = window.RTCPeerConnection;
  class InstrumentedPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      bench.marks.peer = now();
      this.addEventListener("track", (ev) => {
        if (ev.track.kind === "audio" && !bench.marks.remoteTrack) {
          bench.marks.remoteTrack = now();
          envelope(ev.track, bench.remote);
        }
      });
      this.addEventListener("connectionstatechange", () => {
        bench.events.push([now(), "connection", this.connectionState]);
      });
      poll(this);
    }

    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      channel.addEventListener("message", (ev) => {
        let name = "message";
        try {
          const msg = JSON.parse(ev.data);
          name = msg.type === "log" ? String(msg.data) : String(msg.type);
        } catch {}
        bench.events.push([now(), name, String(ev.data).slice(0, 200)]);
      });
      return channel;
    }
  }
  window.RTCPeerConnection = InstrumentedPeerConnection;

  document.addEventListener("rtcstream:transport", (ev) => {
    bench.events.push([now(), "transport", ev.detail.transport]);
    const stream = ev.target.querySelector?.("[data-part=remote-audio]")?.srcObject;
    const track = ev.detail.transport === "websocket" ? stream?.getAudioTracks()[0] : null;
    if (track && !bench.marks.remoteTrack) {
      bench.marks.remoteTrack = now();
      envelope(track, bench.remote);
    }
  });

  document.addEventListener("rtcstream:event", (ev) => {
    bench.events.push([now(), ev.detail.name, JSON.stringify(ev.detail.data ?? null)]);
  });
  for (const type of ["rtcstream:error", "rtcstream:closed"]) {
    document.addEventListener(type, (ev) => bench.events.push([now(), type, JSON.stringify(ev.detail)]));
  }
})();
