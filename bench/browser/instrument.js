// The browser bench's init script: runs in the page before its own scripts.
//
// It records, on the wall clock (performance.timeOrigin + performance.now(), ms):
// - window.__bench.local: [t, rms] every 10 ms of the microphone track
//   (getUserMedia wrapped), to place the fake microphone's file on the clock;
// - window.__bench.remote: [t, rms] every 10 ms of the first remote audio
//   track (RTCPeerConnection wrapped), what the user hears;
// - window.__bench.stats: inbound-rtp audio getStats every 250 ms;
// - window.__bench.events: [t, name, detail] for rtcstream's turn events
//   (the widget's rtcstream:event) and FastRTC's data-channel messages.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const bench = (window.__bench = { local: [], remote: [], stats: [], events: [], marks: {} });
  let context = null;
  const audioContext = () => {
    if (!context) context = new AudioContext();
    if (context.state !== "running") context.resume();
    return context;
  };

  function envelope(track, out) {
    const ctx = audioContext();
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512; // 10.7 ms at 48 kHz
    source.connect(analyser);
    const buffer = new Float32Array(analyser.fftSize);
    const timer = setInterval(() => {
      if (track.readyState === "ended") return clearInterval(timer);
      analyser.getFloatTimeDomainData(buffer);
      let sum = 0;
      for (let i = 0; i < buffer.length; i++) sum += buffer[i] * buffer[i];
      out.push([now(), Math.sqrt(sum / buffer.length)]);
    }, 10);
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
      report.forEach((s) => {
        if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
        const row = { t: now() };
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

  document.addEventListener("rtcstream:event", (ev) => {
    bench.events.push([now(), ev.detail.name, JSON.stringify(ev.detail.data ?? null)]);
  });
  for (const type of ["rtcstream:error", "rtcstream:closed"]) {
    document.addEventListener(type, (ev) => bench.events.push([now(), type, JSON.stringify(ev.detail)]));
  }
})();
