"""Turn-taking latency and CPU of voice sessions, measured on real sessions against a real daphne.

Run: ``make bench`` (``.venv/bin/python bench/turn_latency.py``); needs espeak-ng.
Prints figures, never pass/fail. Everything runs on this machine: daphne on
127.0.0.1 (a fresh SQLite database under ``test-output/``, its log in
``test-output/bench-daphne.log``), the Python client (aiortc) in this process.

What it measures, each with our streaming detector and with a FastRTC-style
0.6 s tumbling-chunk detector behind the same ``ReplyOnPause`` (``bench/handlers.py``):

1. VAD CPU: the detector fed the session audio in 20 ms frames in this
   process (``time.process_time``), per second of audio.
2. Media floor: a plain echo ``StreamHandler`` (no VAD): speech onset sent ->
   the echo's onset received; what any reply pays for the two media hops.
3. End of speech -> first reply frame: espeak-ng utterances to an echo reply;
   from the wall time of the utterance's last voiced 5 ms block (its sample
   position in the client's paced track) to the arrival at the client of the
   first reply frame above -40 dBFS.
4. Barge-in: while an 8 s tone reply plays, a new utterance starts; from its
   first voiced block to the arrival of the last frame of that tone (the next
   reply uses another frequency, so they are told apart by a Goertzel filter).
5. Server CPU: ``psutil`` on the daphne process, idle and with 1 and 4 voice
   sessions (speech in a loop, echo replies), percent of one core.

The two detectors' latency sessions run side by side (one session each).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bench.handlers import TumblingDetector, first_voiced  # noqa: E402
from rtcstream.client import ArrayAudioTrack, RtcClient  # noqa: E402
from rtcstream.handlers.turn_taking import TurnDetector, TurnOptions  # noqa: E402
from tests import speech  # noqa: E402
from tests.daphne import serve  # noqa: E402

RATE = speech.RATE
OUTPUT = ROOT / "test-output"
REPLY_DB = -40.0  # a received frame above this RMS (dBFS) carries reply audio
TONES = (440.0, 660.0)  # the barge-in replies alternate between these

TEXTS = [
    "Please tell me a story about a small robot",
    "What is the weather like today",
    "Turn on the lights in the kitchen",
    "How far away is the moon",
    "Play some music by the window",
    "Remind me to call my sister",
    "What time does the train leave",
    "Read me the news from this morning",
    "Set a timer for ten minutes",
    "Where did I leave my keys",
    "Tell me a joke about cats",
    "How many days until summer",
    "Translate good morning into French",
    "What is the capital of Canada",
    "Add milk and bread to the list",
    "Who wrote the book on the table",
    "Open the garage door please",
    "Is it going to rain tomorrow",
    "Spell the word necessary",
    "What is seven times eight",
    "Find a recipe for pancakes",
    "Call the office and say I am late",
    "How tall is the tallest tree",
    "Start the washing machine now",
]


@dataclass(frozen=True)
class Clip:
    """One utterance: int16 mono at 48 kHz, and where its voice starts and ends (samples)."""

    text: str
    samples: np.ndarray
    onset: int
    end: int


def voiced_end(samples: np.ndarray, threshold_db: float = -45.0) -> int:
    """Return the sample after the last 5 ms block above ``threshold_db`` dBFS RMS."""
    block = RATE // 200
    flat = samples.reshape(-1).astype(np.float64)
    usable = -(-len(flat) // block) * block
    padded = np.zeros(usable)
    padded[: len(flat)] = flat
    rms = np.sqrt((padded.reshape(-1, block) ** 2).mean(axis=1)) / 32768
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    return min(len(flat), (int(loud[-1]) + 1) * block)


def make_clips() -> list[Clip]:
    clips = []
    for text in TEXTS:
        samples = speech.speech(text)
        clips.append(Clip(text, samples, first_voiced(samples, RATE), voiced_end(samples)))
    return clips


def dbfs(frame: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) / 32768
    return 20 * np.log10(max(rms, 1e-9))


_WINDOW = np.hanning(RATE // 50)
_BASIS = {f: np.exp(-2j * np.pi * f * np.arange(RATE // 50) / RATE) * _WINDOW for f in TONES}


def tone_of(frame: np.ndarray) -> float | None:
    """Return which of ``TONES`` a received 20 ms frame carries, or None (silence or neither)."""
    if len(frame) != RATE // 50 or dbfs(frame) < -30:
        return None
    powers = {f: abs(np.dot(frame.astype(np.float64), basis)) for f, basis in _BASIS.items()}
    best = max(powers, key=powers.get)
    others = [p for f, p in powers.items() if f != best]
    return best if powers[best] > 4 * max(others) else None


def stats(values: list[float]) -> tuple[float, float, int]:
    """Median and p95 (nearest rank) in ms, and the count."""
    if not values:
        return float("nan"), float("nan"), 0
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    return float(np.median(ordered)) * 1000, p95 * 1000, len(ordered)


# -- the client side ------------------------------------------------------------------


class ScriptTrack(ArrayAudioTrack):
    """The client's microphone: ``play`` a clip, and learn when its first sample went out.

    ``starts[n]`` is the scheduled (monotonic) send time of the first sample of
    the ``n``-th ``play``: the track is paced against its start time, so the
    sample at offset ``k`` goes out at ``starts[n] + k / 48000``.
    """

    def __init__(self, loop_samples: np.ndarray | None = None) -> None:
        super().__init__(
            loop_samples if loop_samples is not None else np.zeros(0, np.int16), loop=loop_samples is not None
        )
        self.generation = 0
        self.starts: dict[int, float] = {}

    def play(self, samples: np.ndarray) -> int:  # type: ignore[override]
        super().play(samples)
        self.generation += 1
        return self.generation

    async def recv(self):  # type: ignore[override]
        frame = await super().recv()
        # No await since super() sliced the chunk: position and generation describe this frame.
        if self.position == self.frame_samples and self.generation not in self.starts:
            self.starts[self.generation] = self.started_at + frame.pts / self.sample_rate
        return frame

    async def sent(self, generation: int, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while generation not in self.starts:
            if time.monotonic() > deadline:
                raise TimeoutError("the client track did not send the clip")
            await asyncio.sleep(0.005)
        return self.starts[generation]


async def open_session(base: str, endpoint: str, inputs: list | None = None, loop_samples=None):
    client = await RtcClient.connect(base, endpoint)
    track = ScriptTrack(loop_samples)
    await client.start(audio=track, inputs=inputs, timeout=20)
    await client.wait_for_event("connected", timeout=20)
    return client, track


async def close_session(client: RtcClient) -> None:
    with contextlib.suppress(Exception):
        await client.stop(timeout=5)
    with contextlib.suppress(Exception):
        await client.close()


async def wait_quiet(client: RtcClient, quiet: float, timeout: float) -> None:
    """Wait until no sound (the server sends silence between replies) has arrived for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        loud = [f[0] for f in client.audio.frames[-100:] if dbfs(f[2]) > REPLY_DB]
        last = loud[-1] if loud else 0.0
        if time.monotonic() - last >= quiet:
            return
        await asyncio.sleep(0.05)


@dataclass
class Run:
    """What one session measured."""

    values: list[float] = field(default_factory=list)  # at the client's socket (RTP packet arrival)
    decoded: list[float] = field(default_factory=list)  # as aiortc's client hands the frame over
    misses: int = 0

    def add(self, at_socket: float, decoded: float) -> None:
        self.values.append(at_socket)
        self.decoded.append(decoded)

    events: dict[str, int] = field(default_factory=dict)

    def count_events(self, client: RtcClient) -> None:
        for name in client.events():
            self.events[name] = self.events.get(name, 0) + 1


async def media_floor(base: str, clips: list[Clip], count: int) -> Run:
    """A plain echo StreamHandler: the two media hops, without any turn detection."""
    run = Run()
    client, track = await open_session(base, "t-echo")
    try:
        await asyncio.sleep(0.5)
        for clip in clips[:count]:
            mark = len(client.audio.frames)
            generation = track.play(np.concatenate([clip.samples[: RATE // 2], speech.silence(0.5)]))
            onset = await track.sent(generation) + clip.onset / RATE
            try:
                index = await client.wait_until(lambda m=mark, o=onset: _first_loud(client, m, o), timeout=3)
                run.add(packet_arrival(client.audio.frames, index) - onset, client.audio.frames[index][0] - onset)
            except TimeoutError:
                run.misses += 1
            await asyncio.sleep(0.6)
    finally:
        await close_session(client)
    return run


def _first_loud(client: RtcClient, mark: int, after: float) -> int | None:
    """Index of the first frame received after ``after`` (decoded-frame time) above ``REPLY_DB``."""
    frames = client.audio.frames
    for index in range(mark, len(frames)):
        arrival, _pts, samples = frames[index]
        if arrival > after and dbfs(samples) > REPLY_DB:
            return index
    return None


def packet_arrival(frames: list, index: int) -> float:
    """When the RTP packet of frame ``index`` reached the client.

    aiortc's receiver (``JitterBuffer(capacity=16, prefetch=4)``) hands frame
    ``i`` to the decoder only when packet ``i + 4`` arrives, one frame per
    packet, in order; so packet ``i`` arrived when frame ``i - 4`` was handed
    over (no loss on loopback). That removes the client's own 80 ms, and the
    tail of a stream, which stays in that buffer until the next stream pushes it.
    """
    if index >= 4:
        return frames[index - 4][0]
    return frames[index][0] - 4 * 0.02


async def reply_latency(base: str, endpoint: str, clips: list[Clip], warmups: int = 1) -> Run:
    """End of speech -> first reply frame, one utterance at a time, each reply played out before the next."""
    run = Run()
    client, track = await open_session(base, endpoint)
    try:
        await asyncio.sleep(0.5)
        for index, clip in enumerate(clips[:warmups] + clips):
            mark = len(client.audio.frames)
            generation = track.play(np.concatenate([clip.samples, speech.silence(0.2)]))
            end = await track.sent(generation) + clip.end / RATE
            try:
                first = await client.wait_until(lambda m=mark, e=end: _first_loud(client, m, e), timeout=6)
                if index >= warmups:
                    frames = client.audio.frames
                    run.add(packet_arrival(frames, first) - end, frames[first][0] - end)
            except TimeoutError:
                run.misses += index >= warmups
            await wait_quiet(client, 0.4, timeout=10)
        run.count_events(client)
    finally:
        await close_session(client)
    return run


def _tone_frames(client: RtcClient, mark: int, frequency: float) -> list[int]:
    frames = client.audio.frames
    return [index for index in range(mark, len(frames)) if tone_of(frames[index][2]) == frequency]


async def barge_in(base: str, endpoint: str, prompt: Clip, clips: list[Clip], play_before: float = 0.6) -> Run:
    """Speech onset during a tone reply -> the last frame of that tone at the client.

    Each utterance interrupts the reply playing and gets the next reply, at
    the other frequency (sent as the page's input just before it starts).
    """
    run = Run()
    current = 0
    client, track = await open_session(base, endpoint, inputs=[TONES[current]])
    try:
        await asyncio.sleep(0.5)
        mark = len(client.audio.frames)
        track.play(np.concatenate([prompt.samples, speech.silence(0.2)]))
        await client.wait_until(lambda: _tone_frames(client, mark, TONES[current]), timeout=8)
        for clip in clips:
            reply_mark = next(
                i for i in range(mark, len(client.audio.frames)) if tone_of(client.audio.frames[i][2]) == TONES[current]
            )
            await asyncio.sleep(play_before)
            following = 1 - current
            await client.set_inputs(TONES[following])
            mark = len(client.audio.frames)
            generation = track.play(np.concatenate([clip.samples, speech.silence(0.2)]))
            onset = await track.sent(generation) + clip.onset / RATE
            try:
                await client.wait_until(lambda m=mark, f=TONES[following]: _tone_frames(client, m, f), timeout=10)
            except TimeoutError:
                run.misses += 1
                break  # the chain of replies is broken
            last = max(_tone_frames(client, reply_mark, TONES[current]))
            frames = client.audio.frames
            # The decoded time of the last frame is when the next reply pushed it out of aiortc's buffer.
            run.add(packet_arrival(frames, last) - onset, packet_arrival(frames, last) + 4 * 0.02 - onset)
            current = following
        run.count_events(client)
    finally:
        await close_session(client)
    return run


# -- the server -----------------------------------------------------------------------------


@contextlib.contextmanager
def daphne():
    """Serve the site with ``bench.settings`` on 127.0.0.1 (log: test-output/bench-daphne.log); yield (url, process)."""
    with serve("bench.settings", "bench-daphne") as served:
        yield served


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def server_cpu(base: str, pid: int, clips: list[Clip], sessions: int, window: float) -> float:
    """Percent of one core the daphne process uses over ``window`` s with ``sessions`` voice sessions."""
    process = psutil.Process(pid)
    opened = []
    try:
        for index in range(sessions):
            clip = clips[index % len(clips)]
            loop_samples = np.concatenate([speech.silence(0.3 * index), clip.samples, speech.silence(2.5)])
            opened.append(await open_session(base, "bench-echo", loop_samples=loop_samples))
        await asyncio.sleep(3.0)  # past the first utterance and reply
        before, start = _cpu(process), time.monotonic()
        await asyncio.sleep(window)
        used, elapsed = _cpu(process) - before, time.monotonic() - start
        heard = [c.audio.seconds() for c, _t in opened]
        if min(heard, default=1.0) == 0.0:
            print(f"  (warning: a session heard no reply; received seconds: {heard})")
        return used / elapsed * 100
    finally:
        await asyncio.gather(*(close_session(c) for c, _t in opened))


# -- in process ------------------------------------------------------------------------------


def vad_cpu(samples: np.ndarray) -> tuple[float, float, int, int]:
    """CPU per second of audio (percent of a core) of both detectors fed 20 ms frames; and their turn counts."""
    results = []
    for make in (TurnDetector, TumblingDetector):
        detector = make()
        for frame in speech.frames(samples[: 2 * RATE]):
            detector.feed(frame)  # warm up (model load, librosa's first call)
        detector = make()
        turns = 0
        cpu = time.process_time()
        for frame in speech.frames(samples):
            turns += sum(1 for event in detector.feed(frame) if hasattr(event, "reason"))
        cpu = time.process_time() - cpu
        results.append((cpu / (len(samples) / RATE) * 100, turns))
    (ours, ours_turns), (theirs, theirs_turns) = results
    return ours, theirs, ours_turns, theirs_turns


def detector_delays(clips: list[Clip], make) -> tuple[list[float], list[float]]:
    """The detector alone, in process: (pause decided - end of voice) and (interrupting event - onset), seconds.

    The clips are fed one after another with 2.5 s of silence between them.
    The interrupting event is ``SpeechStarted`` for ours and the turn's end
    for the FastRTC-style detector (it never reports an onset).
    """
    detector = make()
    turn_delays, barge_delays = [], []
    for clip in clips:
        audio = np.concatenate([clip.samples, speech.silence(2.5)])
        position = detector.position  # speech.frames pads each clip's last frame
        onset, end = position + clip.onset, position + clip.end
        started = None
        for frame in speech.frames(audio):
            for event in detector.feed(frame):
                now = detector.position
                if hasattr(event, "reason"):
                    turn_delays.append((now - end) / RATE)
                    if started is None:
                        barge_delays.append((now - onset) / RATE)
                elif started is None:
                    started = now
                    barge_delays.append((now - onset) / RATE)
    return turn_delays, barge_delays


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}, Python {platform.python_version()}"
    )


def line(name: str, ours: tuple[float, float, int], theirs: tuple[float, float, int] | None = None) -> None:
    cells = f"{ours[0]:8.0f} {ours[1]:8.0f} {ours[2]:4d}"
    if theirs is not None:
        ratio = theirs[0] / ours[0] if ours[0] > 0 else float("nan")
        cells += f"   {theirs[0]:8.0f} {theirs[1]:8.0f} {theirs[2]:4d}   {ratio:6.1f}x"
    print(f"{name:<42}{cells}")


async def main_async(args: argparse.Namespace) -> None:
    began = time.monotonic()
    clips = make_clips()
    count = max(20, min(args.utterances, len(clips) - 2))
    latency_clips, prompt = clips[1 : 1 + count], clips[0]
    pause = TurnOptions().min_silence_s
    print(f"machine: {machine()}")
    print(
        f"utterances: {count} per measure, espeak-ng, {np.mean([c.end - c.onset for c in clips]) / RATE:.2f} s on average"
    )

    session_audio = np.concatenate([np.concatenate([c.samples, speech.silence(2.5)]) for c in clips])
    ours_vad, theirs_vad, ours_turns, theirs_turns = vad_cpu(session_audio)
    print(
        f"VAD CPU per session-second, in process ({len(session_audio) / RATE:.0f} s of audio, {len(clips)} utterances): "
        f"ours {ours_vad:.2f} % of a core ({ours_turns} turns), FastRTC-style {theirs_vad:.2f} % ({theirs_turns} turns), "
        f"ratio {theirs_vad / ours_vad:.2f}"
    )

    ours_turn, ours_onset = detector_delays(clips, TurnDetector)
    theirs_turn, theirs_onset = detector_delays(clips, TumblingDetector)

    logging.getLogger("aioice").setLevel(logging.WARNING)
    with daphne() as (base, process):
        print(f"daphne pid {process.pid} at {base}; configured pause (TurnOptions.min_silence_s) {pause * 1000:.0f} ms")
        floor = await media_floor(base, clips, 5)
        print(f"[{time.monotonic() - began:5.0f} s] media floor done")
        ours_reply, theirs_reply = await asyncio.gather(
            reply_latency(base, "bench-echo", latency_clips), reply_latency(base, "bench-echo-fastrtc", latency_clips)
        )
        print(f"[{time.monotonic() - began:5.0f} s] end of speech -> reply done")
        ours_barge, theirs_barge = await asyncio.gather(
            barge_in(base, "bench-talk", prompt, latency_clips),
            barge_in(base, "bench-talk-fastrtc", prompt, latency_clips),
        )
        print(f"[{time.monotonic() - began:5.0f} s] barge-in done")
        await asyncio.sleep(2.0)  # let the closed sessions' tasks end
        process_info = psutil.Process(process.pid)
        before, start = _cpu(process_info), time.monotonic()
        await asyncio.sleep(args.window / 2)
        idle = (_cpu(process_info) - before) / (time.monotonic() - start) * 100
        one = await server_cpu(base, process.pid, clips, 1, args.window)
        await asyncio.sleep(1.0)
        four = await server_cpu(base, process.pid, clips, 4, args.window)
        print(f"[{time.monotonic() - began:5.0f} s] server CPU done")

    print()
    print(f"{'':<42}{'ours (streaming VAD)':^22}   {'FastRTC-style 0.6 s':^22}   ratio")
    print(f"{'':<42}{'median':>8} {'p95':>8} {'n':>4}   {'median':>8} {'p95':>8} {'n':>4}   theirs/ours")
    print("at the client's socket (RTP packet arrival):")
    line("  media floor: echo handler, no VAD (ms)", stats(floor.values))
    line("  end of speech -> first reply frame (ms)", stats(ours_reply.values), stats(theirs_reply.values))
    line("  speech onset -> reply audio stops (ms)", stats(ours_barge.values), stats(theirs_barge.values))
    print("as the aiortc client decodes it (+ its fixed 80 ms prefetch):")
    line("  media floor: echo handler, no VAD (ms)", stats(floor.decoded))
    line("  end of speech -> first reply frame (ms)", stats(ours_reply.decoded), stats(theirs_reply.decoded))
    line("  speech onset -> reply audio stops (ms)", stats(ours_barge.decoded), stats(theirs_barge.decoded))
    print("the detector alone, in process (same clips):")
    line("  end of voice -> pause decided (ms)", stats(ours_turn), stats(theirs_turn))
    line("  voice onset -> interrupting event (ms)", stats(ours_onset), stats(theirs_onset))
    print(
        f"{'VAD CPU (% of a core per session)':<42}{ours_vad:8.2f} {'':>13}   {theirs_vad:8.2f} {'':>13}   {theirs_vad / ours_vad:6.2f}x"
    )
    misses = {
        "reply ours": ours_reply.misses,
        "reply FastRTC-style": theirs_reply.misses,
        "barge-in ours": ours_barge.misses,
        "barge-in FastRTC-style": theirs_barge.misses,
        "floor": floor.misses,
    }
    print(f"timeouts (not counted above): {misses}")
    print(f"events, ours: reply {ours_reply.events}; barge-in {ours_barge.events}")
    print(f"events, FastRTC-style: reply {theirs_reply.events}; barge-in {theirs_barge.events}")
    print()
    print(f"server CPU, daphne process, % of one core over {args.window:.0f} s windows:")
    print(f"  idle server                         {idle:6.2f}")
    print(f"  1 voice session                     {one:6.2f}   per session above idle {one - idle:6.2f}")
    print(f"  4 voice sessions                    {four:6.2f}   per session above idle {(four - idle) / 4:6.2f}")
    print()
    print(
        f"targets: reply median <= pause + 80 ms = {pause * 1000 + 80:.0f} ms; barge-in median <= 250 ms; VAD < 1 %; session <= 10 %"
    )
    print(f"total bench time {time.monotonic() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=22, help="utterances per measure (at least 20)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of each server CPU window")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
