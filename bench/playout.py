"""How soon Chromium plays what the server sends, with and without audio frames between replies.

For three ways of filling the time between replies (measured in the same
run): a silent frame every 20 ms sent as Opus DTX (``AUDIO_IDLE_FRAMES`` and
``AUDIO_DTX``, the defaults), every silent frame sent (``AUDIO_IDLE_FRAMES``
only), nothing sent (neither):
a real daphne serves the demo's stream-handler page with ``Bursts`` in place of
the echo (``bench/playout_site.py``: a 0.4 s tone every 1.5 s, the server's
release time of each logged); Debian's chromium opens it through the real
widget, with a silent fake microphone. Inside the page an ``AnalyserNode`` on
the remote track finds each burst's audible onset and end (wall clock, shared
with the server on one machine), and ``getStats`` gives the jitter buffer's
figures. Printed per setting:

- release -> audible: the server handing the burst to its output track ->
  the burst's first audible 5 ms in the page. Includes the wait for the next
  20 ms frame (0-20 ms), Opus, loopback UDP, Chromium's jitter buffer and
  playout (WebAudio's analyser block, ~5 ms). Excludes the sound card.
- clipped: 0.4 s minus the audible length of the burst (start lost, or cut short).
- jitter buffer: jitterBufferDelay / jitterBufferEmittedCount over the run;
  concealed, accelerate and decelerate samples as shares of samples received.
- server CPU: the daphne process, per idle connected voice session: K
  ReplyOnPause sessions opened with the Python client that hear silence (the
  VAD runs, no reply). Includes decoding the client's audio (50 frames a
  second: this caller does not send DTX) and sending the silence between
  replies.

Run: ``make bench-playout`` (about two minutes).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.daphne import serve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SECONDS = 24.0
BURST = 0.4
IDLE_SESSIONS = 8

# Runs in the page before its own scripts: find the remote audio track and
# follow its level every 5 ms; keep bursts as [onset, end] on the wall clock.
INSTRUMENT_JS = """
(() => {
  const bursts = [];
  window.__playout = { bursts };
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__playout.pc = pc;
    pc.addEventListener("track", (ev) => {
      if (ev.track.kind !== "audio") return;
      const ctx = new AudioContext();
      const source = ctx.createMediaStreamSource(new MediaStream([ev.track]));
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 256;
      source.connect(analyser);
      const data = new Float32Array(analyser.fftSize);
      let loud = false, quietSince = 0;
      setInterval(() => {
        analyser.getFloatTimeDomainData(data);
        let sum = 0;
        for (const x of data) sum += x * x;
        const rms = Math.sqrt(sum / data.length);
        const now = performance.timeOrigin + performance.now();
        if (rms > 0.02 && !loud) { loud = true; bursts.push([now / 1000, null]); }
        if (rms <= 0.02 && loud) {
          if (!quietSince) quietSince = now;
          if (now - quietSince > 30) { loud = false; bursts[bursts.length - 1][1] = quietSince / 1000; quietSince = 0; }
        } else quietSince = 0;
      }, 5);
    });
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""

STATS_JS = """async () => {
  const report = await window.__playout.pc.getStats();
  for (const s of report.values()) if (s.type === "inbound-rtp" && s.kind === "audio") return s;
  return null;
}"""


def silent_wav(folder: Path) -> Path:
    path = folder / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "trim", "0", "60"], check=True)
    return path


def browser_run(base: str, wav: Path, releases: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required", f"--use-file-for-fake-audio-capture={wav}",
            ],
        )  # fmt: skip
        page = browser.new_page()
        page.add_init_script(INSTRUMENT_JS)
        page.goto(f"{base}/demos/echo/")
        browser_process = psutil.Process(browser.process.pid) if getattr(browser, "process", None) else None
        page.click("rtc-stream [data-part=start]")
        page.wait_for_function("() => window.__playout.pc && window.__playout.pc.connectionState === 'connected'")
        time.sleep(SECONDS)  # the bursts play on the server's schedule; this is the length of the run
        stats = page.evaluate(STATS_JS)
        bursts = page.evaluate("() => window.__playout.bursts")
        page.click("rtc-stream [data-part=stop]")
        browser.close()
    released = [json.loads(line)["released"] for line in releases.read_text().splitlines()]
    del browser_process
    return {"released": released, "bursts": bursts, "stats": stats}


def match(released: list[float], bursts: list[list[float | None]]) -> tuple[list[float], list[float], int]:
    """Pair each release with the first audible onset after it (within 1.4 s); return delays, clips, misses."""
    delays, clips, misses = [], [], 0
    for at in released:
        heard = [b for b in bursts if b[0] >= at - 0.005 and b[0] < at + 1.4 and b[1] is not None]
        if not heard:
            misses += 1
            continue
        onset, end = heard[0]
        delays.append(onset - at)
        clips.append(max(0.0, BURST - (end - onset)))
    return delays, clips, misses


async def idle_cpu(base: str, process: psutil.Process) -> float:
    """Server CPU (share of one core) per idle connected voice session, over 10 s."""
    import numpy as np

    from rtcstream.client import ArrayAudioTrack, RtcClient

    clients = []
    try:
        for _ in range(IDLE_SESSIONS):
            client = await RtcClient.connect(base, "t-reply-echo")  # ReplyOnPause hearing silence: no reply
            await client.start(audio=ArrayAudioTrack(np.zeros(48000 * 60, dtype=np.int16)))
            await client.wait_for_event("connected", timeout=20)
            clients.append(client)
        await asyncio.sleep(2)
        before = process.cpu_times()
        started = time.monotonic()
        await asyncio.sleep(10)
        after = process.cpu_times()
        used = (after.user + after.system - before.user - before.system) / (time.monotonic() - started)
        return used / IDLE_SESSIONS
    finally:
        for client in clients:
            await client.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# (label, AUDIO_IDLE_FRAMES, AUDIO_DTX): the defaults first
SETTINGS = [("idle frames, DTX", "1", "1"), ("idle frames", "1", "0"), ("none", "0", "0")]


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        wav = silent_wav(Path(folder))
        for index, (label, idle, dtx) in enumerate(SETTINGS):
            releases = Path(folder) / f"releases-{index}.jsonl"
            releases.touch()
            os.environ.update(BENCH_IDLE_FRAMES=idle, BENCH_DTX=dtx, BENCH_RELEASES=str(releases))
            with serve("bench.playout_site", f"bench-playout-{index}") as (base, process):
                run = browser_run(base, wav, releases)
                run["idle_cpu"] = asyncio.run(idle_cpu(base, psutil.Process(process.pid)))
            results[label] = run
    print(f"Chromium playout of 0.4 s bursts, {SECONDS:.0f} s per setting, loopback; {time.strftime('%Y-%m-%d %H:%M')}")
    print("between replies: 'idle frames, DTX' = AUDIO_IDLE_FRAMES and AUDIO_DTX (the defaults); 'idle frames' =")
    print("AUDIO_IDLE_FRAMES only (a silent frame every 20 ms); 'none' = neither (no RTP between replies)")
    header = f"{'between replies':<18} {'release->audible med / p95':>27} {'clipped med':>12} {'missed':>7} {'jitter buf':>11} {'concealed':>10} {'accel':>6} {'decel':>6} {'CPU/idle session':>17}"
    print(header)
    figures = {}
    for label, run in results.items():
        delays, clips, misses = match(run["released"], run["bursts"])
        s = run["stats"] or {}
        received = max(1, s.get("totalSamplesReceived", 1))
        jb = s.get("jitterBufferDelay", 0) / max(1, s.get("jitterBufferEmittedCount", 1))
        figures[label] = statistics.median(delays) if delays else float("nan")
        print(
            f"{label:<18} "
            f"{1000 * statistics.median(delays) if delays else float('nan'):>11.0f} / {1000 * pct(delays, 0.95):>4.0f} ms   "
            f"{1000 * statistics.median(clips) if clips else float('nan'):>8.0f} ms "
            f"{misses:>4}/{len(run['released']):<2} "
            f"{1000 * jb:>8.0f} ms "
            f"{100 * s.get('concealedSamples', 0) / received:>9.1f}% "
            f"{100 * s.get('removedSamplesForAcceleration', 0) / received:>5.1f}% "
            f"{100 * s.get('insertedSamplesForDeceleration', 0) / received:>5.1f}% "
            f"{100 * run['idle_cpu']:>14.2f} %"
        )
    base = figures[SETTINGS[0][0]]
    for label in list(figures)[1:]:
        print(f"ratio ({label} / {SETTINGS[0][0]}), median release->audible: {figures[label] / base:.2f}x")


if __name__ == "__main__":
    main()
