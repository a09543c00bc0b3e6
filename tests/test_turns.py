"""TurnDetector: onsets, pauses, pre-roll, forced turns and the AlgoOptions mapping, on espeak-ng speech."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtcstream import SileroVadOptions
from rtcstream.handlers import turn_taking
from rtcstream.handlers.turn_taking import AlgoOptions, SpeechStarted, TurnDetector, TurnEnded, TurnOptions

from . import speech
from .speech import RATE


def run(detector: TurnDetector, samples: np.ndarray) -> list[tuple[int, SpeechStarted | TurnEnded]]:
    """Feed 20 ms frames; return (position after the frame, event) pairs."""
    events = []
    for frame in speech.frames(samples):
        for event in detector.feed(frame):
            events.append((detector.position, event))
    return events


def turns(events: list) -> list[TurnEnded]:
    return [event for _, event in events if isinstance(event, TurnEnded)]


def starts(events: list) -> list[SpeechStarted]:
    return [event for _, event in events if isinstance(event, SpeechStarted)]


class TestPauses:
    def test_default_pause_is_at_most_half_a_second(self):
        options = TurnOptions()
        assert options.min_silence_s <= 0.5
        # Enough for a soft onset (h, s, f) on top of the VAD-latency correction; more delays an echo reply.
        assert 0.1 <= options.pre_roll_s + options.vad_latency_s <= 0.3
        assert 0.05 <= options.min_speech_s <= 0.25

    @pytest.mark.parametrize(("gap", "expected"), [(0.3, 1), (0.8, 2), (2.0, 2)])
    def test_two_utterances_give_one_turn_per_pause_longer_than_min_silence(self, gap, expected):
        recording = speech.two_utterances(gap)
        events = run(TurnDetector(), recording.samples)
        assert [type(event) for _, event in events] == [SpeechStarted, TurnEnded] * expected
        assert all(turn.reason == "pause" for turn in turns(events))

    def test_a_shorter_pause_setting_splits_a_short_gap(self):
        recording = speech.two_utterances(0.3)
        events = run(TurnDetector(TurnOptions(min_silence_s=0.2)), recording.samples)
        assert len(turns(events)) == 2

    def test_turn_ends_soon_after_the_last_word(self):
        recording = speech.utterance()
        events = run(TurnDetector(), recording.samples)
        ((position, turn),) = [(p, e) for p, e in events if isinstance(e, TurnEnded)]
        last_word_end = recording.utterances[0][1]
        # The pause (0.45 s) is counted from the end of the voice, not from when the VAD lets go.
        assert 0.35 <= (position - last_word_end) / RATE <= 0.6

    def test_utterance_begins_a_pre_roll_before_the_first_word(self):
        recording = speech.utterance(lead=1.0)
        options = TurnOptions()
        (turn,) = turns(run(TurnDetector(options), recording.samples))
        assert turn.audio.dtype == np.int16 and turn.audio.shape[0] == 1
        assert turn.sample_rate == RATE
        # The first word's energy sits at least pre_roll_s into the utterance.
        assert speech.energy_onset(turn.audio) >= options.pre_roll_s * RATE
        # And the utterance is the recording itself, from its start position on.
        np.testing.assert_array_equal(turn.audio[0], recording.samples[turn.start : turn.start + turn.audio.shape[1]])
        # It holds every word.
        assert turn.start + turn.audio.shape[1] >= recording.utterances[0][1]

    def test_onset_is_placed_near_the_energy_onset(self):
        recording = speech.utterance()
        (started,) = starts(run(TurnDetector(), recording.samples))
        energy = speech.energy_onset(recording.samples)
        assert abs(started.onset - energy) <= 0.1 * RATE
        # Confirmed within min_speech_s plus the VAD's and resampler's delays.
        assert (started.position - energy) / RATE <= 0.25

    def test_pre_roll_never_reaches_into_the_previous_turn(self):
        recording = speech.two_utterances(0.8)
        first, second = turns(run(TurnDetector(), recording.samples))
        assert second.start >= first.start + first.audio.shape[1]
        assert second.start < recording.utterances[1][0]


class TestNoSpeech:
    @pytest.mark.parametrize(
        "make",
        [
            lambda: speech.silence(5),
            lambda: speech.hum(5),
            lambda: speech.hum(5, frequency=60, level_db=-6),
            lambda: speech.white_noise(5),
            lambda: speech.white_noise(5, level_db=-15, seed=7),
        ],
        ids=["silence", "hum", "loud-hum", "noise", "loud-noise"],
    )
    def test_no_turn(self, make):
        detector = TurnDetector()
        assert run(detector, make()) == []
        assert not detector.speaking


class TestForcedTurns:
    def test_max_utterance_forces_a_turn_and_the_rest_forms_the_next(self):
        recording = speech.utterance()
        options = TurnOptions(max_utterance_s=1.0)
        events = run(TurnDetector(options), recording.samples)
        assert isinstance(events[0][1], SpeechStarted)
        *forced, rest = turns(events)
        assert len(starts(events)) == 1  # one utterance, cut into pieces
        assert len(forced) >= 2  # a 2.5 s sentence, its pre-roll and the pause, in 1 s pieces
        assert all(turn.reason == "max_length" and 1.0 <= turn.duration_s <= 1.021 for turn in forced)
        assert rest.reason == "pause"
        # Together they are the whole utterance, with neither gap nor overlap.
        pieces = [*forced, rest]
        for before, after in zip(pieces, pieces[1:], strict=False):
            assert after.start == before.start + before.audio.shape[1]
        assert rest.start + rest.audio.shape[1] >= recording.utterances[0][1]

    def test_flush_returns_the_utterance_so_far(self):
        recording = speech.utterance()
        detector = TurnDetector()
        run(detector, recording.samples[: recording.utterances[0][0] + RATE])
        assert detector.speaking
        turn = detector.flush()
        assert turn.reason == "forced" and turn.duration_s > 1.0
        assert not detector.speaking

    def test_flush_without_speech_is_empty(self):
        detector = TurnDetector()
        run(detector, speech.silence(0.5))
        turn = detector.flush()
        assert turn.audio.shape == (1, 0) and turn.audio.dtype == np.int16

    def test_discard_drops_the_utterance(self):
        recording = speech.utterance()
        detector = TurnDetector()
        half = recording.utterances[0][0] + RATE
        run(detector, recording.samples[:half])
        detector.discard()
        events = run(detector, recording.samples[half:])
        # The rest of the speech may start a new turn, but none of the discarded audio is in it.
        assert all(turn.start >= half for turn in turns(events))


class TestMemory:
    def test_history_is_bounded_and_feeding_big_blocks_works(self):
        recording = speech.two_utterances(2.0)
        detector = TurnDetector()
        events = []
        for start in range(0, len(recording.samples), RATE):  # 1 s blocks
            events += detector.feed(recording.samples[start : start + RATE])
        assert len([e for e in events if isinstance(e, TurnEnded)]) == 2
        capacity = len(detector._history._buffer)
        assert capacity <= (TurnOptions().pre_roll_s + 1.0) * RATE

    def test_other_input_rates(self):
        recording = speech.utterance()
        samples_16k = recording.samples[::3].copy()  # crude, but speech survives it
        detector = TurnDetector(sample_rate=16000)
        events = []
        for start in range(0, len(samples_16k), 320):
            events += detector.feed(samples_16k[start : start + 320])
        assert [type(event) for event in events] == [SpeechStarted, TurnEnded]
        assert events[1].sample_rate == 16000


class TestOptions:
    def test_algo_options_mapping(self):
        options = TurnOptions().with_algo_options(
            AlgoOptions(audio_chunk_duration=0.5, started_talking_threshold=0.25, speech_threshold=0.05)
        )
        assert options.min_silence_s == 0.5
        assert options.min_speech_s == 0.25
        assert options.min_resume_s == 0.05
        assert options.max_utterance_s == TurnOptions().max_utterance_s  # inf keeps a finite cap

    def test_finite_max_continuous_speech(self):
        options = TurnOptions().with_algo_options(AlgoOptions(max_continuous_speech_s=12.0))
        assert options.max_utterance_s == 12.0

    def test_model_options_threshold(self):
        options = TurnOptions().with_model_options(SileroVadOptions(threshold=0.6))
        assert options.threshold == 0.6 and math.isclose(options.neg_threshold, 0.45)
        assert TurnOptions().with_model_options({"threshold": 0.7}).threshold == 0.7
        assert TurnOptions().with_model_options(object()) == TurnOptions()

    def test_fastrtc_defaults_still_find_both_turns(self):
        recording = speech.two_utterances(2.0)
        options = TurnOptions().with_algo_options(AlgoOptions())
        assert len(turns(run(TurnDetector(options), recording.samples))) == 2

    def test_short_bursts_inside_a_pause_do_not_restart_it(self):
        # A 40 ms click in the middle of a 0.6 s pause: with min_resume_s it stays one pause.
        first, second = speech.speech(), speech.speech(speech.SECOND_SENTENCE)
        click = np.zeros(int(0.04 * RATE), dtype=np.int16)
        click[::48] = 20000
        samples = np.concatenate(
            [speech.silence(0.5), first, speech.silence(0.3), click, speech.silence(0.3), second, speech.silence(1.5)]
        )
        assert len(turns(run(TurnDetector(TurnOptions(min_silence_s=0.55, min_resume_s=0.1)), samples))) == 2

    @pytest.mark.parametrize(
        "bad",
        [
            dict(threshold=0.3, neg_threshold=0.4),
            dict(min_silence_s=-1),
            dict(max_utterance_s=math.inf),
            dict(turn_model_pause_s=1.0, turn_model_max_pause_s=0.8),
            dict(turn_model_pause_s=0),
            dict(turn_model_threshold=1.0),
        ],
    )
    def test_invalid_options(self, bad):
        with pytest.raises(ValueError):
            TurnOptions(**bad)


class FakeVAD:
    """A VAD driven by a list of probabilities: the state machine on its own."""

    sample_rate = 16000
    window_samples = 512

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = list(probabilities)

    def process(self, window: np.ndarray) -> float:
        return self.probabilities.pop(0) if self.probabilities else 0.0

    def reset(self) -> None:
        pass

    def copy(self) -> FakeVAD:
        return FakeVAD(self.probabilities)


class TestStateMachine:
    def feed_windows(self, detector: TurnDetector, count: int) -> list:
        # At 16 kHz in, one window is exactly 512 input samples.
        return [e for _ in range(count) for e in detector.feed(np.full(512, 1000, dtype=np.int16))]

    @pytest.mark.parametrize("answer", [float("nan"), 1.5, -0.1, None, "0.9"])
    def test_a_vad_answer_that_is_no_probability_is_named(self, answer):
        detector = TurnDetector(TurnOptions(), 16000, FakeVAD([answer]))
        with pytest.raises(ValueError, match=r"FakeVAD.process returned .*, not a speech probability from 0 to 1"):
            self.feed_windows(detector, 1)

    @pytest.mark.parametrize(
        ("name", "value"), [("window_samples", 0), ("sample_rate", -16000), ("window_samples", 1.5)]
    )
    def test_a_vad_window_that_is_no_positive_size_is_named(self, name, value):
        vad = FakeVAD([])
        setattr(vad, name, value)
        with pytest.raises(ValueError, match=rf"FakeVAD.{name} must be a positive int, not {value!r}"):
            TurnDetector(TurnOptions(), 16000, vad)

    def test_hysteresis_keeps_speech_between_the_thresholds(self):
        probabilities = [0.6] * 4 + [0.4] * 30 + [0.1] * 15
        detector = TurnDetector(TurnOptions(vad_tail_s=0), 16000, FakeVAD(probabilities))
        events = self.feed_windows(detector, len(probabilities))
        assert [type(event) for event in events] == [SpeechStarted, TurnEnded]
        # 0.45 s of silence is 15 windows of 32 ms: the turn ends on the last one.
        assert events[1].start + events[1].audio.shape[1] == len(probabilities) * 512

    def test_speech_shorter_than_min_speech_is_not_a_start(self):
        probabilities = [0.9] * 3 + [0.1] * 20
        detector = TurnDetector(TurnOptions(min_speech_s=0.12), 16000, FakeVAD(probabilities))
        assert self.feed_windows(detector, len(probabilities)) == []

    def test_a_start_needs_the_high_threshold(self):
        probabilities = [0.45] * 40
        detector = TurnDetector(TurnOptions(), 16000, FakeVAD(probabilities))
        assert self.feed_windows(detector, len(probabilities)) == []


class TestShortPauses:
    """With a turn model, the detector says when to ask it (``ShortPause``) and ends the turn only at the bound."""

    OPTIONS = TurnOptions(vad_tail_s=0, turn_model_pause_s=0.2, turn_model_max_pause_s=0.96)

    def feed_windows(self, detector: TurnDetector, probabilities: list[float]) -> list[tuple[int, object]]:
        """Feed one 16 kHz window per probability; return (window index, event) pairs."""
        detector.vad = FakeVAD(probabilities)
        return [
            (index, event)
            for index in range(len(probabilities))
            for event in detector.feed(np.full(512, 1000, dtype=np.int16))
        ]

    def test_one_short_pause_per_silence_then_the_turn_ends_at_the_bound(self):
        detector = TurnDetector(self.OPTIONS, 16000, FakeVAD([]), asks_turn_model=True)
        events = self.feed_windows(detector, [0.9] * 10 + [0.1] * 40)
        assert [type(event) for _, event in events] == [SpeechStarted, turn_taking.ShortPause, TurnEnded]
        (asked, pause), (ended, _turn) = [(i, e) for i, e in events if not isinstance(e, SpeechStarted)]
        # 0.2 s is 7 windows of 32 ms, 0.96 s is 30: counted from the first silent window (index 10).
        assert (asked, ended) == (10 + 7 - 1, 10 + 30 - 1)
        assert pause.pause == 1 and pause.position == (asked + 1) * 512

    def test_without_a_model_there_is_no_short_pause_and_min_silence_ends_the_turn(self):
        detector = TurnDetector(TurnOptions(vad_tail_s=0, min_silence_s=0.45), 16000, FakeVAD([]))
        events = self.feed_windows(detector, [0.9] * 10 + [0.1] * 40)
        assert [type(event) for _, event in events] == [SpeechStarted, TurnEnded]
        assert events[1][0] == 10 + 15 - 1

    def test_end_turn_now_ends_the_current_pause_only(self):
        detector = TurnDetector(self.OPTIONS, 16000, FakeVAD([]), asks_turn_model=True)
        events = self.feed_windows(detector, [0.9] * 10 + [0.1] * 8)
        (pause,) = [event for _, event in events if isinstance(event, turn_taking.ShortPause)]
        assert detector.end_turn_now(pause.pause + 1) is None  # not this pause
        turn = detector.end_turn_now(pause.pause)
        assert turn is not None and turn.reason == "pause" and turn.audio.shape[1] == 18 * 512
        assert not detector.speaking and detector.end_turn_now(pause.pause) is None  # once

    def test_speech_that_resumes_makes_the_answer_about_that_pause_end_nothing(self):
        detector = TurnDetector(self.OPTIONS, 16000, FakeVAD([]), asks_turn_model=True)
        events = self.feed_windows(detector, [0.9] * 10 + [0.1] * 8 + [0.9] * 5 + [0.1] * 8)
        first, second = [event for _, event in events if isinstance(event, turn_taking.ShortPause)]
        assert second.pause == first.pause + 1
        assert detector.end_turn_now(first.pause) is None  # the speaker went on after it
        turn = detector.end_turn_now(second.pause)
        assert turn is not None and turn.audio.shape[1] == 31 * 512  # both stretches of speech, one turn

    def test_utterance_tail_is_the_last_seconds_of_the_utterance(self):
        detector = TurnDetector(self.OPTIONS, 16000, FakeVAD([]), asks_turn_model=True)
        assert detector.utterance_tail(8.0).shape == (0,)
        self.feed_windows(detector, [0.9] * 10 + [0.1] * 8)
        whole = detector.utterance_tail(8.0)
        assert whole.dtype == np.int16 and len(whole) == 18 * 512
        assert len(detector.utterance_tail(0.1)) == 1600 and np.array_equal(detector.utterance_tail(0.1), whole[-1600:])
