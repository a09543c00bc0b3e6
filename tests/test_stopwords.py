"""The stop-word detector on spoken fixtures: PocketSphinx's keyphrase search with the model its wheel ships.

Each clip is heard by a new detector from its first sample (a session's first words), 20 ms frames at 48 kHz.
The bounds are what was measured (docs/stopwords.md), with a little room: espeak-ng's voices are far from
the speech the model was trained on, so a third of them go unheard; a person's reading is heard in full.
"""

from __future__ import annotations

import builtins
import gc
import os
import signal
from functools import cache

import numpy as np
import psutil
import pytest
import soxr

from rtcstream.handlers import stopwords
from rtcstream.handlers.stopwords import StopWordDetector, StopWordHeard, StopWordsUnavailable
from rtcstream.speech import DecoderProcessError
from rtcstream.speech.decoder_process import DecoderProcess, Task
from tests import speech
from tests import stopword_audio as fixtures
from tests.polling import wait_for

RATE = fixtures.RATE
END_TOLERANCE = int(0.25 * RATE)  # measured: the reported end is 36-156 ms before the true end
MAX_LATENCY = int(0.4 * RATE)  # measured: 111 ms median, 146 ms at most


def hear(clip: fixtures.Clip, stop_words: tuple[str, ...] = ("computer",), rate: int = RATE) -> list[StopWordHeard]:
    detector = StopWordDetector(stop_words, rate)
    samples = clip.samples if rate == RATE else soxr.resample(clip.samples, RATE, rate)
    return [heard for frame in speech.frames(samples, rate // 50) for heard in detector.feed(frame)]


@cache
def negatives() -> list[fixtures.Clip]:
    return fixtures.negatives(("computer",))


def test_the_phrase_is_heard_where_it_ends() -> None:
    clips = fixtures.positives("computer")
    heard_in = 0
    for clip in clips:
        heard = hear(clip)
        assert clip.phrase_end is not None
        for event in heard:  # whatever is heard in a clip is the phrase, at its end, soon after it
            assert event.phrase == "computer", clip.name
            assert abs(event.end - clip.phrase_end) <= END_TOLERANCE, (clip.name, event)
            assert 0 <= event.detected_at - clip.phrase_end <= MAX_LATENCY, (clip.name, event)
            assert event.end <= event.detected_at
        assert len(heard) <= 1, (clip.name, heard)
        heard_in += bool(heard)
    assert heard_in >= 12, f"heard in {heard_in} of {len(clips)} (measured 14)"


def test_other_speech_and_a_person_are_not_heard() -> None:
    clips = [clip for clip in negatives() if clip.kind == "other"] + fixtures.human_clips()
    assert [clip.name for clip in clips if hear(clip)] == []


def test_near_misses() -> None:
    """Words that end differently are never heard; words that share "comput-" are, sometimes (a known limit)."""
    near = [clip for clip in negatives() if clip.kind == "near-miss"]
    heard = {clip.name for clip in near if hear(clip)}
    never = ("commuter", "compute her", "come put her", "the commuter train was late again")
    assert [name for name in heard if name.split("/")[0] in never] == []
    assert len(heard) <= 14, f"near misses heard in {len(heard)} of {len(near)} (measured 11): {sorted(heard)}"


def test_several_stop_words_and_another_rate() -> None:
    clip = fixtures.positives("computer")[0]  # en-us, heard at 48 kHz
    heard = hear(clip, ("Good morning, Robot!", "Computer"), rate=16000)
    assert [event.phrase for event in heard] == ["Computer"]
    assert clip.phrase_end is not None
    assert abs(heard[0].end * 3 - clip.phrase_end) <= END_TOLERANCE


def test_positions_count_from_reset() -> None:
    clip = fixtures.positives("computer")[0]
    detector = StopWordDetector(["computer"], RATE)
    first = [h for frame in speech.frames(clip.samples) for h in detector.feed(frame)]
    detector.reset()
    again = [h for frame in speech.frames(clip.samples) for h in detector.feed(frame)]
    assert clip.phrase_end is not None and first and len(again) == 1  # not a position from the first pass
    assert abs(again[0].end - clip.phrase_end) <= END_TOLERANCE


def robust_clip() -> fixtures.Clip:
    """A clip a new search hears wherever its 10 ms frames fall (measured: 10 of 10 sub-frame offsets, and
    9 of 9 lead-ins around a restarted process; some clips are heard at some offsets only, as at a session's start)."""
    clip = fixtures.positives("computer")[5]
    assert clip.name == "computer/en-us/175/2"
    return clip


def test_the_search_runs_in_a_process_that_a_failure_restarts_and_close_ends() -> None:
    """PocketSphinx holds the GIL while it searches, so it runs in a child; a child that dies costs the
    stream only what it was hearing: the next frame starts another, and positions run on through it."""
    clip = robust_clip()
    assert clip.phrase_end is not None
    detector = StopWordDetector(["computer"], RATE)
    first = detector.pid
    assert first is not None and first != os.getpid() and psutil.Process(first).ppid() == os.getpid()
    before, after = speech.silence(0.02), speech.silence(0.5)
    assert detector.feed(before) == []
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: detector.pid is None, 5, "the killed process to be seen gone")
    assert [h for frame in speech.frames(after) for h in detector.feed(frame)] == []
    assert detector.pid not in (None, first)  # a new process took over at the next frame
    heard = [h for frame in speech.frames(clip.samples) for h in detector.feed(frame)]
    assert [h.phrase for h in heard] == ["computer"]
    assert abs(heard[0].end - (before.shape[-1] + after.shape[-1] + clip.phrase_end)) <= END_TOLERANCE
    second = detector.pid
    detector.close()
    assert detector.pid is None and not psutil.pid_exists(second)  # ended and reaped


def test_a_new_detector_starts_its_process_and_a_reset_restarts_the_search() -> None:
    """A new process's search is fresh: it is not asked to start over (the reset of a running one is)."""
    spotters: list[Recording] = []

    class Recording(DecoderProcess):
        def __init__(self, task: Task) -> None:
            super().__init__(task)
            self.asked: list[int] = []
            spotters.append(self)

        def ask(self, pcm: bytes, timeout: float) -> str:
            self.asked.append(len(pcm))
            return super().ask(pcm, timeout)

    detector = StopWordDetector(["computer"], RATE, spotter=Recording)
    [spotter] = spotters
    assert detector.pid is not None and spotter.asked == []  # started, so that one that cannot start fails here
    detector.feed(speech.silence(0.1))
    assert spotter.asked and 0 not in spotter.asked
    detector.reset()
    assert spotter.asked[-1] == 0  # the running search starts over
    clip = robust_clip()
    assert clip.phrase_end is not None
    heard = [h for frame in speech.frames(clip.samples) for h in detector.feed(frame)]
    assert [h.phrase for h in heard] == ["computer"]
    assert abs(heard[0].end - clip.phrase_end) <= END_TOLERANCE  # counted from the reset
    detector.close()


def test_a_process_that_stops_answering_fails_the_frame_in_time_and_is_replaced(monkeypatch) -> None:
    monkeypatch.setattr(stopwords, "ANSWER_TIMEOUT", 0.5)
    detector = StopWordDetector(["computer"], RATE)
    hung = detector.pid
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)
    with pytest.raises(DecoderProcessError, match="stop-word process failed: no answer in time"):
        detector.feed(speech.silence(0.1))  # (the resampler keeps a first 20 ms to itself)
    wait_for(lambda: not psutil.pid_exists(hung), 5, "the hung process to be killed and reaped")
    after = speech.silence(0.5)
    assert [h for frame in speech.frames(after) for h in detector.feed(frame)] == []
    assert detector.pid not in (None, hung)
    clip = robust_clip()
    assert clip.phrase_end is not None
    heard = [h for frame in speech.frames(clip.samples) for h in detector.feed(frame)]
    assert [h.phrase for h in heard] == ["computer"]  # where it ends, the failed frame's audio counted
    assert abs(heard[0].end - (round(0.1 * RATE) + after.shape[-1] + clip.phrase_end)) <= END_TOLERANCE
    detector.close()


def test_a_detector_nobody_holds_ends_its_process() -> None:
    detector = StopWordDetector(["computer"], RATE)
    pid = detector.pid
    del detector
    gc.collect()
    wait_for(lambda: not psutil.pid_exists(pid), 5, "the process of a dropped detector to end")


def test_silence_and_noise_are_not_heard() -> None:
    detector = StopWordDetector(["computer", "hey jarvis"], RATE)
    audio = np.concatenate([speech.silence(3), speech.white_noise(3), speech.hum(3)])
    assert [h for frame in speech.frames(audio) for h in detector.feed(frame)] == []


def test_thresholds_scale_with_the_phrase_length() -> None:
    detector = StopWordDetector(["computer", "hey jarvis"], threshold={"hey jarvis": 1e-20})
    assert detector.thresholds["hey jarvis"] == 1e-20
    assert detector.thresholds["computer"] == pytest.approx(10 ** (stopwords.LOG10_THRESHOLD_PER_PHONE * 8))


def test_a_word_not_in_the_dictionary() -> None:
    with pytest.raises(ValueError, match="zorblax"):
        StopWordDetector(["hey zorblax"])
    detector = StopWordDetector(["hey zorblax"], pronunciations={"zorblax": "Z AO R B L AE K S"})
    assert detector.feed(speech.silence(0.1)) == []
    with pytest.raises(ValueError):
        StopWordDetector([" ,! "])


def test_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_pocketsphinx(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "pocketsphinx":
            raise ImportError("No module named 'pocketsphinx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pocketsphinx)
    with pytest.raises(StopWordsUnavailable, match="pip install pocketsphinx"):
        StopWordDetector(["computer"])
