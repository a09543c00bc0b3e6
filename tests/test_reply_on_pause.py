"""ReplyOnPause driven frame by frame, as the session's runner drives it, with a fake context."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import warnings
from typing import Any

import numpy as np
import pytest

from rtcstream import SileroVadOptions, conf
from rtcstream.handlers.base import EmitType
from rtcstream.handlers.reply_on_pause import ReplyOnPause
from rtcstream.handlers.results import AdditionalOutputs
from rtcstream.handlers.turn_taking import AlgoOptions, TurnOptions

from . import speech
from .speech import RATE

DEADLINE = 10.0


@pytest.fixture(autouse=True)
def no_django_settings(monkeypatch):
    """Use rtcstream's default settings without configuring Django, the VAD's pause alone ending turns."""
    defaults = {**conf.DEFAULTS, "TURN_MODEL": "none"}
    monkeypatch.setattr(conf, "get", lambda name: defaults[name])


def chunk(value: int = 1, samples: int = 480) -> tuple[int, np.ndarray]:
    return (24000, np.full((1, samples), value, dtype=np.int16))


class FakeContext:
    """The session side: records events and clears, serves inputs, says whether output is playing."""

    def __init__(self, inputs: tuple[Any, ...] = (), takes_text: bool = False) -> None:
        self.session_id = "test"
        self.takes_text = takes_text
        self.loop = asyncio.get_running_loop()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.positions: dict[str, list[int]] = {}
        self.cleared = 0
        self.values = inputs
        self.playing = False
        self.handler: ReplyOnPause | None = None
        self._changed = asyncio.Event()

    def send_event(self, name: str, **data: Any) -> None:
        self.events.append((name, data))
        if self.handler is not None and self.handler._detector is not None:
            self.positions.setdefault(name, []).append(self.handler._detector.position)
        self.loop.call_soon_threadsafe(self._changed.set)

    def clear_output(self) -> None:
        self.cleared += 1

    def inputs(self) -> tuple[Any, ...]:
        return self.values

    def output_busy(self) -> bool:
        return self.playing

    def after_playback(self, callback) -> None:
        callback()  # nothing plays here: the reply's audio is done as soon as it is handed over

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]


class Runner:
    """What the core does: bind, start up, feed 20 ms frames, pull ``emit``."""

    def __init__(self, handler: ReplyOnPause, inputs: tuple[Any, ...] = ()) -> None:
        self.handler = handler.copy()
        self.context = FakeContext(inputs)
        self.context.handler = self.handler
        self.handler.bind(self.context)
        self.emitted: list[Any] = []
        self.emitted_at_interrupt: int | None = None

    async def start(self) -> Runner:
        await self.handler.start_up()
        return self

    async def feed(self, samples: np.ndarray) -> None:
        """Feed 20 ms frames; after each, play out at most one ready item, as a real-time output track would."""
        for frame in speech.frames(samples):
            await self.handler.receive((RATE, frame))
            if "interrupted" in self.context.names and self.emitted_at_interrupt is None:
                self.emitted_at_interrupt = len(self.emitted)
            await asyncio.sleep(0)  # let the reply's producer run between frames, as it would live
            if not self.handler._queue.empty():
                item = await self.handler.emit()
                if item is not None:
                    self.emitted.append(item)

    async def pull_until(self, done, timeout: float = DEADLINE) -> None:
        """Call emit until ``done()`` is true, within a deadline."""

        async def loop() -> None:
            while not done():
                item = await self.handler.emit()
                if item is not None:
                    self.emitted.append(item)

        await asyncio.wait_for(loop(), timeout)

    async def pull_until_event(self, name: str, count: int = 1) -> None:
        await self.pull_until(lambda: self.context.names.count(name) >= count)

    async def close(self) -> None:
        await asyncio.wait_for(self.handler.aclose(), DEADLINE)
        assert not self.handler._tasks


async def wait_thread_event(event: threading.Event) -> None:
    assert await asyncio.get_running_loop().run_in_executor(None, event.wait, DEADLINE)


class Recorder:
    """A reply function that records its calls and yields ``items`` (an async generator)."""

    def __init__(self, *items: Any) -> None:
        self.items = items
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, audio, *inputs):
        self.calls.append((audio, *inputs))
        for item in self.items:
            yield item

    @property
    def audio(self) -> list[np.ndarray]:
        return [call[0][1] for call in self.calls]


class TestTurns:
    async def test_events_come_in_order_and_fn_gets_the_whole_utterance(self):
        outputs = AdditionalOutputs("hello")
        reply = Recorder(outputs, chunk(1), chunk(2), (chunk(3), AdditionalOutputs("bye")))
        runner = await Runner(ReplyOnPause(reply)).start()
        await runner.feed(speech.utterance().samples)
        await runner.pull_until_event("response_done")
        assert runner.context.names == [
            "started_talking",
            "pause_detected",
            "response_starting",
            "response_done",
            "playback_done",
        ]
        assert runner.emitted == list(reply.items)  # passed through unchanged, in order
        ((sample_rate, audio),) = [call[0] for call in reply.calls]
        assert sample_rate == RATE and audio.dtype == np.int16 and audio.shape[0] == 1
        assert speech.energy_onset(audio) >= TurnOptions().pre_roll_s * RATE
        await runner.close()

    @pytest.mark.parametrize(("gap", "expected"), [(0.3, 1), (0.8, 2), (2.0, 2)])
    async def test_one_reply_per_pause(self, gap, expected):
        reply = Recorder()
        runner = await Runner(ReplyOnPause(reply)).start()
        await runner.feed(speech.two_utterances(gap).samples)
        await runner.pull_until_event("response_done", expected)
        assert len(reply.calls) == expected
        assert runner.context.names.count("pause_detected") == expected
        await runner.close()

    @pytest.mark.parametrize(
        "make",
        [lambda: speech.silence(4), lambda: speech.hum(4), lambda: speech.white_noise(4)],
        ids=["silence", "hum", "noise"],
    )
    async def test_no_turn_without_speech(self, make):
        reply = Recorder()
        runner = await Runner(ReplyOnPause(reply)).start()
        await runner.feed(make())
        assert runner.context.events == [] and reply.calls == []
        await runner.close()

    async def test_max_utterance_forces_a_turn(self):
        reply = Recorder()
        runner = await Runner(ReplyOnPause(reply, max_utterance_s=1.0)).start()
        await runner.feed(speech.utterance().samples)
        await runner.pull_until_event("response_done")
        assert runner.context.events[1] == ("pause_detected", {"reason": "max_length", "duration": 1.0, "silence": 0.0})
        assert reply.audio[0].shape == (1, RATE)
        await runner.close()

    async def test_sync_generator_reply(self):
        calls = []

        def reply(audio):
            calls.append(threading.current_thread().name)
            yield chunk(5)

        runner = await Runner(ReplyOnPause(reply)).start()
        await runner.feed(speech.utterance().samples)
        await runner.pull_until_event("response_done")
        assert runner.emitted[0][1][0, 0] == 5
        assert calls and calls[0] != threading.main_thread().name  # never on the loop
        await runner.close()


class TestInputs:
    async def test_fn_gets_the_latest_inputs_when_it_takes_them(self):
        reply = Recorder()
        runner = await Runner(ReplyOnPause(reply), inputs=("Ada", 0.5)).start()
        await runner.feed(speech.utterance().samples)
        await runner.pull_until_event("response_done")
        assert reply.calls[0][1:] == ("Ada", 0.5)

    async def test_fn_of_audio_alone_gets_no_inputs(self):
        seen = []

        async def reply(audio):
            seen.append(audio)
            yield chunk()

        runner = await Runner(ReplyOnPause(reply), inputs=("Ada",)).start()
        await runner.feed(speech.utterance().samples)
        await runner.pull_until_event("response_done")
        assert len(seen) == 1

    async def test_startup_fn_greets_with_the_inputs(self):
        greeted = []

        def greet(name):
            greeted.append(name)
            yield chunk(7)

        runner = await Runner(ReplyOnPause(Recorder(), startup_fn=greet), inputs=("Ada",)).start()
        await runner.pull_until_event("response_done")
        assert greeted == ["Ada"]
        assert runner.context.names == ["response_starting", "response_done", "playback_done"]
        assert runner.emitted[0][1][0, 0] == 7
        await runner.close()


class TestTrigger:
    async def test_trigger_without_audio_replies_to_an_empty_utterance(self):
        reply = Recorder(chunk())
        runner = await Runner(ReplyOnPause(reply)).start()
        await runner.feed(speech.silence(0.2))
        runner.handler.trigger_response()
        await runner.pull_until_event("response_done")
        assert runner.context.events[0] == ("pause_detected", {"reason": "trigger", "duration": 0.0, "silence": 0.0})
        ((sample_rate, audio),) = [call[0] for call in reply.calls]
        assert sample_rate == RATE and audio.shape == (1, 0) and audio.dtype == np.int16
        await runner.close()

    async def test_trigger_mid_utterance_replies_to_what_was_said(self):
        reply = Recorder()
        runner = await Runner(ReplyOnPause(reply)).start()
        recording = speech.utterance()
        await runner.feed(recording.samples[: recording.utterances[0][0] + RATE])
        runner.handler.trigger_response()
        await runner.pull_until_event("response_done")
        assert reply.audio[0].shape[1] > RATE
        await runner.close()


class TestBargeIn:
    async def test_speech_during_a_reply_stops_it_and_the_new_utterance_is_whole(self):
        closed = asyncio.Event()
        calls: list[np.ndarray] = []

        async def reply(audio):
            calls.append(audio[1])
            number = len(calls)
            try:
                while number == 1:  # the first reply would talk forever
                    yield chunk(1)
                yield chunk(2)
            finally:
                if number == 1:
                    closed.set()

        runner = await Runner(ReplyOnPause(reply)).start()
        recording = speech.two_utterances(2.0)
        second_onset = recording.utterances[1][0]
        await runner.feed(recording.samples[:second_onset])
        await runner.pull_until(lambda: len(runner.emitted) >= 2)  # the first reply is playing
        await runner.feed(recording.samples[second_onset:])
        await asyncio.wait_for(closed.wait(), DEADLINE)
        await runner.pull_until_event("response_done")
        names = runner.context.names
        assert names == [
            "started_talking",
            "pause_detected",
            "response_starting",
            "started_talking",
            "interrupted",
            "pause_detected",
            "response_starting",
            "response_done",
            "playback_done",
        ]
        assert runner.context.cleared == 1
        # Stopped within 250 ms of audio after the second utterance's first energy.
        (interrupted_at,) = runner.context.positions["interrupted"]
        assert (
            interrupted_at
            - speech.energy_onset(recording.samples[second_onset - RATE // 2 :])
            - (second_onset - RATE // 2)
        ) / RATE <= 0.25
        # Nothing from the first reply after the interruption; the second reply's chunk came through.
        after = runner.emitted[runner.emitted_at_interrupt :]
        assert [item[1][0, 0] for item in after] == [2]
        # The new utterance keeps its pre-roll and every word.
        second = calls[1]
        assert speech.energy_onset(second) >= TurnOptions().pre_roll_s * RATE
        assert second.shape[1] >= len(speech.speech(speech.SECOND_SENTENCE)) + TurnOptions().pre_roll_s * RATE
        await runner.close()

    async def test_a_sync_generator_inside_next_is_closed_after_next_returns(self, caplog):
        busy, release, closed = threading.Event(), threading.Event(), threading.Event()

        def reply(audio):
            try:
                yield chunk(1)
                busy.set()
                release.wait(DEADLINE)  # a slow TTS call, in flight when the user barges in
                yield chunk(1)
            finally:
                closed.set()

        runner = await Runner(ReplyOnPause(reply)).start()
        recording = speech.two_utterances(2.0)
        second_onset = recording.utterances[1][0]
        await runner.feed(recording.samples[:second_onset])
        await runner.pull_until(lambda: len(runner.emitted) >= 1)
        await wait_thread_event(busy)
        with caplog.at_level(logging.ERROR):
            await runner.feed(recording.samples[second_onset : second_onset + RATE // 2])
            assert "interrupted" in runner.context.names
            assert not closed.is_set()  # still inside next(): closing now would raise
            release.set()
            await wait_thread_event(closed)
        assert not [r for r in caplog.records if "already executing" in r.getMessage() or r.exc_info]
        await runner.close()

    async def test_audio_still_playing_is_interrupted_too(self):
        runner = await Runner(ReplyOnPause(Recorder(chunk()))).start()
        recording = speech.two_utterances(2.0)
        second_onset = recording.utterances[1][0]
        await runner.feed(recording.samples[:second_onset])
        await runner.pull_until_event("response_done")
        runner.context.playing = True  # the output track still holds the reply's audio
        await runner.feed(recording.samples[second_onset : second_onset + RATE // 2])
        assert runner.context.names[-2:] == ["started_talking", "interrupted"]
        assert runner.context.cleared == 1
        await runner.close()

    async def test_can_interrupt_false_ignores_speech_during_the_reply(self):
        release = asyncio.Event()
        reply_calls: list[np.ndarray] = []

        async def reply(audio):
            reply_calls.append(audio[1])
            yield chunk()
            if len(reply_calls) == 1:
                await release.wait()

        runner = await Runner(ReplyOnPause(reply, can_interrupt=False)).start()
        recording = speech.two_utterances(2.0)
        await runner.feed(recording.samples)  # the second utterance is spoken over the first reply
        assert runner.context.names == ["started_talking", "pause_detected", "response_starting"]
        assert runner.context.cleared == 0
        release.set()
        await runner.pull_until_event("response_done")
        # After the reply, a new utterance is a turn again, without the audio heard during the reply.
        third = speech.utterance(lead=0.5, tail=1.0)
        await runner.feed(third.samples)
        await runner.pull_until_event("response_done", 2)
        assert len(reply_calls) == 2
        assert reply_calls[1].shape[1] <= len(third.samples)
        await runner.close()


class TestLifecycle:
    async def test_errors_in_the_reply_reach_emit(self):
        async def reply(audio):
            yield chunk()
            raise RuntimeError("model crashed")

        runner = await Runner(ReplyOnPause(reply)).start()
        runner.handler.trigger_response()
        with pytest.raises(RuntimeError, match="model crashed"):
            await runner.pull_until(lambda: False)
        await runner.close()

    async def test_the_generator_never_runs_far_ahead(self):
        produced = 0

        async def reply(audio):
            nonlocal produced
            while True:
                produced += 1
                yield chunk()

        runner = await Runner(ReplyOnPause(reply)).start()
        runner.handler.trigger_response()
        for _ in range(100):  # many loop turns, nobody pulling
            await asyncio.sleep(0)
        assert produced <= ReplyOnPause.queue_size + 1
        await runner.close()

    async def test_shutdown_closes_a_sync_generator_blocked_in_next(self):
        entered, release, closed = threading.Event(), threading.Event(), threading.Event()

        def reply(audio):
            try:
                entered.set()
                release.wait(DEADLINE)
                yield chunk()
            finally:
                closed.set()

        runner = await Runner(ReplyOnPause(reply)).start()
        runner.handler.trigger_response()
        await wait_thread_event(entered)
        await runner.close()  # cancels the producer without waiting for next()
        assert not closed.is_set()
        release.set()
        await wait_thread_event(closed)

    async def test_shutdown_closes_an_async_generator(self):
        closed = asyncio.Event()

        async def reply(audio):
            try:
                while True:
                    yield chunk()
            finally:
                closed.set()

        runner = await Runner(ReplyOnPause(reply)).start()
        runner.handler.trigger_response()
        await runner.pull_until(lambda: len(runner.emitted) >= 1)
        runner.handler.shutdown()
        await asyncio.wait_for(closed.wait(), DEADLINE)
        await runner.close()


class TestConfiguration:
    def test_algo_options_map_onto_turn_options(self):
        handler = ReplyOnPause(Recorder(), algo_options=AlgoOptions(0.5, 0.25, 0.05, 20.0))
        assert (handler.options.min_silence_s, handler.options.min_speech_s) == (0.5, 0.25)
        assert (handler.options.min_resume_s, handler.options.max_utterance_s) == (0.05, 20.0)

    def test_keyword_arguments_override_algo_options(self):
        handler = ReplyOnPause(Recorder(), algo_options=AlgoOptions(), min_silence_s=0.3, pre_roll_s=0.5)
        assert handler.options.min_silence_s == 0.3 and handler.options.pre_roll_s == 0.5
        assert handler.copy().options == handler.options

    def test_turn_options_and_model_options(self):
        handler = ReplyOnPause(
            Recorder(), turn_options=TurnOptions(pre_roll_s=0.6), model_options=SileroVadOptions(threshold=0.7)
        )
        assert handler.options.pre_roll_s == 0.6 and handler.options.threshold == 0.7

    def test_every_endpoint_option_reads_back_what_configure_set(self, monkeypatch):
        from rtcstream.endpoints.kinds import REPLY_ON_PAUSE_OPTIONS, kind_of

        handler = ReplyOnPause(Recorder(), min_silence_s=0.45, can_interrupt=False)
        own = {option.name: option.current(handler) for option in REPLY_ON_PAUSE_OPTIONS}
        assert own["min_silence_s"] == 0.45 and own["can_interrupt"] is False and own["turn_model"] == "none"
        assert None not in own.values()
        defaults = {**conf.DEFAULTS, "TURN_MODEL": "smart-turn"}
        monkeypatch.setattr(conf, "get", lambda name: defaults[name])
        assert handler.configured("turn_model") == "smart-turn"  # the site's default, until the endpoint sets one
        assert "onnxruntime" in kind_of(handler).needs_of(handler)
        handler.configure(min_silence_s=0.7, can_interrupt=True, turn_model="none")
        assert [handler.configured(name) for name in ("min_silence_s", "can_interrupt", "turn_model")] == [
            0.7,
            True,
            "none",
        ]
        with pytest.raises(KeyError, match="no option 'pause'"):
            handler.configured("pause")

    def test_unknown_arguments_are_refused(self):
        with pytest.raises(TypeError, match="min_silence"):
            ReplyOnPause(Recorder(), min_silence=0.3)

    def test_fastrtcs_deprecated_output_frame_size_is_taken_in_its_place_and_ignored_with_a_warning(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # FastRTC's order: ..., output_sample_rate, output_frame_size, input_sample_rate, model.
            handler = ReplyOnPause(Recorder(), None, None, None, True, "mono", 16000, 320, 24000)
            assert (handler.output_sample_rate, handler.input_sample_rate) == (16000, 24000)  # 320: 20 ms, quiet
            handler.copy()
        with pytest.warns(UserWarning, match=r"output_frame_size=960 is ignored .* 480 samples at 24000 Hz") as seen:
            handler = ReplyOnPause(Recorder(), output_frame_size=960)
        assert seen[0].filename == __file__  # the warning names the site's line, not rtcstream's
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            handler.copy()  # said once, when the site built it

    def test_fastrtcs_emit_type_names_are_there(self):
        from rtcstream import AudioEmitType, VideoEmitType
        from rtcstream.handlers.audio_video import AudioVideoStreamHandler

        assert AudioEmitType is EmitType
        assert inspect.get_annotations(AudioVideoStreamHandler.video_emit, eval_str=True)["return"] == VideoEmitType

    def test_fastrtc_pause_models_are_refused_with_a_reason(self):
        class PauseDetectionModel:
            def vad(self, audio, options):
                return 0.0, []

        with pytest.raises(TypeError, match="VoiceActivityDetector"):
            ReplyOnPause(Recorder(), model=PauseDetectionModel())

    def test_copy_is_a_fresh_handler(self):
        handler = ReplyOnPause(Recorder(), can_interrupt=False, output_sample_rate=16000)
        copy = handler.copy()
        assert copy is not handler and copy.can_interrupt is False and copy.output_sample_rate == 16000
        assert copy._queue is not handler._queue

    def test_configure_takes_endpoint_options(self):
        handler = ReplyOnPause(Recorder()).copy()
        handler.configure(min_silence_s=0.3, pre_roll_s=0.5, max_utterance_s=10, can_interrupt=False)
        assert (handler.options.min_silence_s, handler.options.pre_roll_s) == (0.3, 0.5)
        assert handler.options.max_utterance_s == 10 and handler.can_interrupt is False
        assert handler.copy().options == handler.options
        with pytest.raises(TypeError, match="pause"):
            handler.configure(pause=1)
