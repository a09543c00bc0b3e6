"""Print the stop-word detector's CPU per second of audio (one session) and its detection latency.

The CPU is given twice: the server's process (the resampling to 16 kHz and the pipe; the event loop
pays only the hand-off to a worker thread, not measured here) and the decoder's own process (the
keyphrase search, which held the server's GIL when it ran there). The round trip is the wall time of
one ``feed`` of a 20 ms frame, what a frame's detection waits in its worker thread.

Run: ``python -m bench.stopword_cost`` (needs espeak-ng). Figures, never pass/fail. ``--accuracy`` adds
the table of hits and false alarms on the spoken fixtures at the default threshold.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import psutil

from rtcstream.handlers.stopwords import StopWordDetector, StopWordHeard
from tests import speech
from tests import stopword_audio as fixtures

RATE = fixtures.RATE
STOP_WORDS = ["computer"]


def run(clip: fixtures.Clip, warm: bool = True) -> list[StopWordHeard]:
    """Return what a new session's detector hears in ``clip`` (after the warm-up speech, if ``warm``)."""
    detector = StopWordDetector(STOP_WORDS, RATE)
    lead = fixtures.warm_up(clip) if warm else speech.silence(0)
    heard = [h for frame in speech.frames(np.concatenate([lead, clip.samples])) for h in detector.feed(frame)]
    offset = len(lead)
    return [StopWordHeard(h.phrase, h.end - offset, h.detected_at - offset) for h in heard if h.end >= offset]


def cost(detector: StopWordDetector, clips: list[fixtures.Clip]) -> None:
    """CPU per second of audio: 20 ms frames at 48 kHz, resampling included; also on digital silence."""
    audio = np.concatenate([clip.samples for clip in clips])
    silence = speech.silence(30)
    for name, samples in (("speech and quiet (48 kHz in)", audio), ("digital silence (48 kHz in)", silence)):
        detector.reset()
        assert detector.pid is not None
        decoder = psutil.Process(detector.pid)
        start, decoder_start = time.process_time(), sum(decoder.cpu_times()[:2])
        trips = []
        for frame in speech.frames(samples):
            begin = time.perf_counter()
            detector.feed(frame)
            trips.append(time.perf_counter() - begin)
        seconds = len(samples) / RATE
        server = (time.process_time() - start) / seconds * 1000
        child = (sum(decoder.cpu_times()[:2]) - decoder_start) / seconds * 1000
        print(
            f"{name:<30} {server:6.2f} ms CPU per s of audio in the server's process ({server / 10:.2f} % of a core), "
            f"{child:6.2f} ms in the decoder's ({child / 10:.2f} %); round trip a frame: "
            f"median {statistics.median(trips) * 1000:.2f} ms, p95 {np.percentile(trips, 95) * 1000:.2f} ms"
        )
    begin = time.perf_counter()
    fresh = StopWordDetector(STOP_WORDS, RATE)
    print(f"{'new detector (process start)':<30} {(time.perf_counter() - begin) * 1000:6.1f} ms")
    assert fresh.pid is not None
    print(f"{'decoder process memory (RSS)':<30} {psutil.Process(fresh.pid).memory_info().rss / 2**20:6.1f} MB")
    fresh.close()


def latency(clips: list[fixtures.Clip]) -> None:
    """From the end of the phrase to its report, and the error of the reported end."""
    delays, errors, missed = [], [], 0
    for clip in clips:
        heard = [h for h in run(clip) if h.phrase == clip.phrase]
        if not heard:
            missed += 1
            continue
        assert clip.phrase_end is not None
        delays.append((heard[0].detected_at - clip.phrase_end) / RATE * 1000)
        errors.append((heard[0].end - clip.phrase_end) / RATE * 1000)
    if delays:
        print(
            f"latency after the phrase ends: median {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms; "
            f"reported end - true end: {min(errors):.0f} to {max(errors):.0f} ms ({len(delays)} heard, {missed} missed)"
        )


def accuracy(warm: bool) -> None:
    """Clips with at least one detection, by kind."""
    print(f"accuracy, each clip a new session {'after 3 s of other speech' if warm else 'from its first sample'}:")
    kinds: dict[str, list[fixtures.Clip]] = {
        "phrase": fixtures.positives("computer"),
        "run-on": fixtures.run_ons("computer"),
        "other": [c for c in fixtures.negatives(("computer",)) if c.kind == "other"],
        "near-miss": [c for c in fixtures.negatives(("computer",)) if c.kind == "near-miss"],
        "human": fixtures.human_clips(),
    }
    for kind, clips in kinds.items():
        heard = [clip.name for clip in clips if run(clip, warm)]
        print(
            f"{kind:<10} heard in {len(heard):3} of {len(clips):3}"
            + (f"  ({', '.join(heard[:6])})" if kind not in ("phrase", "run-on") and heard else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accuracy", action="store_true", help="also count hits and false alarms on every fixture")
    args = parser.parse_args()
    detector = StopWordDetector(STOP_WORDS, RATE)
    positives = fixtures.positives("computer")
    print(f"stop words {STOP_WORDS}, thresholds {detector.thresholds}")
    cost(detector, positives + [c for c in fixtures.negatives(("computer",)) if c.kind == "other"])
    latency(positives)
    if args.accuracy:
        accuracy(warm=False)
        accuracy(warm=True)


if __name__ == "__main__":
    main()
