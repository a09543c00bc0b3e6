// Listen to what a page's <audio> element receives, with Web Audio: how long it was loud, and the
// strongest frequency of each loud buffer (window.__probe.pitch: the most frequent one, in Hz). Installed before the page loads; reads the element's
// srcObject whenever it changes, so it follows a new session too. Results in window.__probe.
(() => {
  const probe = { seconds: 0, loudSeconds: 0, peak: 0, sessions: 0, pitches: {}, pitch: null };
  window.__probe = probe;
  let current = null;
  let ctx = null;
  const LOUD = 0.02; // RMS of a buffer, full scale 1
  window.__probeListen = (selector) => {
    setInterval(() => {
      const el = document.querySelector(selector);
      const stream = el && el.srcObject;
      if (!stream || stream === current || !stream.getAudioTracks().length) return;
      current = stream;
      probe.sessions += 1;
      ctx = ctx || new AudioContext();
      ctx.resume();
      const source = ctx.createMediaStreamSource(stream);
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 8192;
      analyser.smoothingTimeConstant = 0;
      const spectrum = new Float32Array(analyser.frequencyBinCount);
      const node = ctx.createScriptProcessor(2048, 1, 1);
      node.onaudioprocess = (ev) => {
        const x = ev.inputBuffer.getChannelData(0);
        let sum = 0;
        for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
        const rms = Math.sqrt(sum / x.length), seconds = x.length / ev.inputBuffer.sampleRate;
        probe.seconds += seconds;
        probe.peak = Math.max(probe.peak, rms);
        if (rms <= LOUD) return;
        probe.loudSeconds += seconds;
        analyser.getFloatFrequencyData(spectrum);
        let best = 1;
        for (let i = 2; i < spectrum.length; i++) if (spectrum[i] > spectrum[best]) best = i;
        const hz = Math.round((best * ctx.sampleRate) / analyser.fftSize);
        probe.pitches[hz] = (probe.pitches[hz] || 0) + 1;
        probe.pitch = Number(Object.keys(probe.pitches).reduce((a, b) => (probe.pitches[a] >= probe.pitches[b] ? a : b)));
      };
      source.connect(analyser);
      source.connect(node);
      node.connect(ctx.destination);
    }, 50);
  };
})();
