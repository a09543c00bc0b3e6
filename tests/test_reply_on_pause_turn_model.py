"""ReplyOnPause with a turn model: asked after a short silence, in the worker pool; complete ends the turn at once,
incomplete waits for the longest pause; speech that resumes, or the bound, makes a late answer end nothing.
And Smart Turn itself through real sessions, on recordings of a real speaker."""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
import pytest

from rtcstream import conf
from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.handlers import turn_model
from rtcstream.handlers.reply_on_pause import ReplyOnPause
from rtcstream.handlers.turn_model import TurnModel
from rtcstream.handlers.turn_taking import TurnOptions

from . import speech, speech_real
from .speech import RATE
from .test_reply_on_pause import DEADLINE, Recorder, Runner, no_django_settings  # noqa: F401  (fixture)

ASK_S = 0.2
BOUND_S = 1.0


class FakeTurnModel:
    """A ``TurnModel`` that answers ``answers`` in turn (the last one again), optionally held until ``release``."""

    sample_rate = 16000
    max_seconds = 8.0

    def __init__(self, *answers: float, hold: bool = False) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[np.ndarray, str]] = []
        self.called = threading.Event()
        self.release = threading.Event()
        self.timed_out = False
        if not hold:
            self.release.set()

    def predict(self, audio: np.ndarray) -> float:
        self.calls.append((audio, threading.current_thread().name))
        self.called.set()
        if not self.release.wait(DEADLINE):
            self.timed_out = True  # held past the deadline: whoever called it was blocked waiting too
            raise TimeoutError("the turn model was never released")
        if isinstance(self.answers[0], Exception):
            raise self.answers[0]
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def handler(model: FakeTurnModel, reply: Recorder, **options) -> ReplyOnPause:
    return ReplyOnPause(reply, turn_model=model, turn_model_pause_s=ASK_S, turn_model_max_pause_s=BOUND_S, **options)


async def decided(runner: Runner) -> None:
    """Wait until every turn-model answer asked for so far has been acted on."""
    pending = [task for task in runner.handler._tasks if task is not runner.handler._reply]
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending), DEADLINE)


async def wait_called(model: FakeTurnModel) -> None:
    assert await asyncio.get_running_loop().run_in_executor(None, model.called.wait, DEADLINE)
    model.called.clear()


def position_of(runner: Runner, event: str) -> float:
    """Seconds of input fed when ``event`` was sent."""
    return runner.context.positions[event][0] / RATE


class TestDecisions:
    async def test_complete_replies_at_once_and_the_model_runs_in_the_worker_pool(self):
        model, reply = FakeTurnModel(0.9), Recorder()
        runner = await Runner(handler(model, reply)).start()
        recording = speech.utterance(tail=0.3)
        await runner.feed(recording.samples)
        await decided(runner)
        await runner.pull_until_event("response_done")
        ((audio, thread),) = model.calls
        assert thread != threading.main_thread().name  # never on the event loop
        name, details = runner.context.events[1]
        assert name == "pause_detected" and details["reason"] == "pause" and details["complete"] == 0.9
        # Asked ~0.2 s after the last word: the turn ended with 0.3 s of silence fed, long before the bound.
        end = recording.utterances[0][1] / RATE
        assert position_of(runner, "pause_detected") - end <= 0.3 + 0.02
        # The model got the utterance so far at its own rate (16 kHz): pre-roll, speech and the short silence;
        # the turn also holds what was fed while it thought: some of the 0.3 s of silence, never more (the VAD
        # calls silence a few 32 ms windows after the last word, so the model is asked before 0.2 s of it).
        assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
        (turn,) = reply.audio
        assert 0 <= turn.shape[1] / 3 - len(audio) <= 0.3 * 16000
        assert speech.energy_onset(turn) / 3 == pytest.approx(speech.energy_onset(audio * 32768, rate=16000), abs=80)
        await runner.close()

    async def test_incomplete_waits_for_the_longest_pause_then_replies_anyway(self):
        model, reply = FakeTurnModel(0.1), Recorder()
        runner = await Runner(handler(model, reply)).start()
        recording = speech.utterance(tail=ASK_S + 0.1)
        await runner.feed(recording.samples)
        await decided(runner)
        assert len(model.calls) == 1 and "pause_detected" not in runner.context.names  # not yet
        await runner.feed(speech.silence(1.5))
        await runner.pull_until_event("response_done")
        assert len(reply.calls) == 1 and runner.context.names.count("pause_detected") == 1
        name, details = runner.context.events[1]
        assert name == "pause_detected" and "complete" not in details
        silence_at_end = position_of(runner, "pause_detected") - recording.utterances[0][1] / RATE
        assert BOUND_S - 0.05 <= silence_at_end <= BOUND_S + 0.1
        await runner.close()

    async def test_speech_that_resumes_cancels_the_pending_decision(self):
        model, reply = FakeTurnModel(0.9, hold=True), Recorder()
        runner = await Runner(handler(model, reply)).start()
        first = speech.utterance(tail=ASK_S + 0.1)
        await runner.feed(first.samples)
        await wait_called(model)  # asked about the first pause, and not answering yet
        await runner.feed(speech.utterance(lead=0, tail=0.05, text=speech.SECOND_SENTENCE).samples)
        model.release.set()  # "complete", about a pause the speaker has since ended by talking
        await decided(runner)
        assert not model.timed_out
        assert "pause_detected" not in runner.context.names and reply.calls == []
        await runner.feed(speech.silence(ASK_S + 0.1))
        await decided(runner)
        await runner.pull_until_event("response_done")
        assert len(model.calls) == 2 and len(reply.calls) == 1
        # One turn, holding both stretches of speech.
        assert reply.audio[0].shape[1] >= len(first.samples) - 0.5 * RATE + len(speech.speech(speech.SECOND_SENTENCE))
        await runner.close()

    async def test_receive_never_waits_for_the_model_and_the_bound_ends_the_turn_without_it(self):
        model, reply = FakeTurnModel(0.9, hold=True), Recorder()
        runner = await Runner(handler(model, reply)).start()
        recording = speech.utterance(tail=2.0)
        await runner.feed(recording.samples)  # returns although the model has not answered
        await wait_called(model)
        await runner.pull_until_event("response_done")
        assert runner.context.names.count("pause_detected") == 1 and "complete" not in runner.context.events[1][1]
        model.release.set()  # the late "complete" ends nothing more
        await decided(runner)
        assert not model.timed_out
        assert runner.context.names.count("pause_detected") == 1 and len(reply.calls) == 1
        await runner.close()

    async def test_a_failing_model_is_logged_and_the_bound_ends_the_turn(self, caplog):
        model, reply = FakeTurnModel(RuntimeError("model broke")), Recorder()
        runner = await Runner(handler(model, reply)).start()
        with caplog.at_level(logging.ERROR, "rtcstream.handlers.reply_on_pause"):
            await runner.feed(speech.utterance(tail=ASK_S + 0.1).samples)
            await decided(runner)
        assert "turn model failed" in caplog.text
        await runner.feed(speech.silence(1.2))
        await runner.pull_until_event("response_done")
        assert len(reply.calls) == 1
        await runner.close()

    async def test_without_a_model_the_pause_alone_ends_the_turn(self):
        reply = Recorder()
        runner = await Runner(ReplyOnPause(reply, turn_model="none")).start()
        recording = speech.utterance(tail=1.0)
        await runner.feed(recording.samples)
        await runner.pull_until_event("response_done")
        silence = position_of(runner, "pause_detected") - recording.utterances[0][1] / RATE
        assert 0.35 <= silence <= 0.6 and "complete" not in runner.context.events[1][1]
        await runner.close()

    async def test_half_duplex_asks_nothing_while_a_reply_plays(self):
        model, reply = FakeTurnModel(0.9), Recorder()
        runner = await Runner(handler(model, reply, can_interrupt=False)).start()
        runner.context.playing = True  # a reply is still being heard
        await runner.feed(speech.utterance(tail=ASK_S + 0.1).samples)
        await decided(runner)
        assert model.calls == [] and "pause_detected" not in runner.context.names
        await runner.close()


class TestConfiguration:
    def test_the_site_setting_is_the_default_and_a_handler_may_choose_its_own(self, monkeypatch):
        assert conf.DEFAULTS["TURN_MODEL"] == "smart-turn"  # the figures' choice (docs/performance.md)
        site = {**conf.DEFAULTS}
        monkeypatch.setattr(conf, "get", lambda name: site[name])
        assert ReplyOnPause(Recorder()).turn_model == "smart-turn"
        assert ReplyOnPause(Recorder(), turn_model="none").turn_model == "none"
        site["TURN_MODEL"] = "none"  # a site that keeps the VAD alone: one setting
        handler = ReplyOnPause(Recorder())
        assert handler.turn_model == "none" and handler.copy().turn_model == "none"
        assert ReplyOnPause(Recorder(), turn_model="smart-turn").copy().turn_model == "smart-turn"

    def test_turn_model_choices(self):
        model = FakeTurnModel(0.5)
        assert isinstance(model, TurnModel)
        handler = ReplyOnPause(Recorder(), turn_model=model)
        assert handler.copy().turn_model is model  # one model object serves every session
        with pytest.raises(ValueError, match="smart-turn"):
            ReplyOnPause(Recorder(), turn_model="smart_turn")
        with pytest.raises(TypeError, match="TurnModel"):
            ReplyOnPause(Recorder(), turn_model=object())

    def test_configure_takes_the_turn_model_options(self):
        handler = ReplyOnPause(Recorder(), turn_model="none").copy()
        handler.configure(turn_model="smart-turn", turn_model_pause_s=0.3, turn_model_max_pause_s=1.5)
        assert handler.turn_model == "smart-turn"
        assert (handler.options.turn_model_pause_s, handler.options.turn_model_max_pause_s) == (0.3, 1.5)
        copy = handler.copy()
        assert copy.turn_model == "smart-turn" and copy.options == handler.options
        with pytest.raises(ValueError):
            handler.configure(turn_model_pause_s=2.0)  # longer than the longest pause


@pytest.fixture
def smart_turn_installed():
    try:
        turn_model.find_model()
    except turn_model.TurnModelUnavailable:
        speech_real.missing(f"Smart Turn v3.2's model file ({turn_model.INSTALL_HINT})")


def recording(name: str) -> tuple[np.ndarray, speech_real.Fixture]:
    """The Asterisk fixture ``name`` at 48 kHz, after 0.5 s of silence, as a microphone sends it."""
    (fixture,) = [f for f in speech_real.asterisk_fixtures(limit=16) if f.name == name]
    return np.concatenate([speech.silence(0.5), speech_real.to_48k_int16(fixture.samples)]), fixture


async def converse(asgi_app, samples: np.ndarray) -> RtcClient:
    """Play ``samples`` to a Smart Turn endpoint in real time; return the client once all of it was sent."""
    client = await RtcClient.connect(asgi_app, "t-reply-smart-turn")
    track = ArrayAudioTrack(samples)
    await client.start(audio=track)
    seconds = len(samples) / 48000
    await client.wait_until(lambda: track.elapsed() >= seconds, timeout=seconds + 10)
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("smart_turn_installed")
class TestSmartTurnSessions:
    """Fixtures chosen where Smart Turn is right (bench/turn_model_accuracy.py prints every fixture's answer):
    "Please enter your conference PIN number." (0.95 complete, 0.3 s into the pause), its first part
    "Please enter your ..." (0.08) before a 0.6 s hesitation, and "You are currently the only person in
    this conference." (0.99)."""

    @pytest.fixture(autouse=True)
    def no_django_settings(self):
        """These sessions run under the test settings (the module's other tests use rtcstream's defaults)."""

    async def test_a_finished_sentence_is_answered_after_the_short_pause(self, asgi_app):
        samples, fixture = recording("asterisk/conf-onlyone")
        async with await converse(asgi_app, samples) as client:
            event = await client.wait_for_event("pause_detected", timeout=5)
            assert event["data"]["complete"] > 0.5  # the model ended the turn
            # What the turn holds beyond the sentence (and its 0.1 s pre-roll) is the silence heard before it ended:
            # the 0.3 s before the model was asked and the time it took (its call waits for a busy machine's cores).
            silence = event["data"]["duration"] - fixture.segments[0].end - 0.1
            assert silence < TurnOptions().turn_model_max_pause_s - 0.1, event
            assert client.events().count("pause_detected") == 1

    async def test_a_hesitation_gets_no_reply_and_the_turn_ends_whole(self, asgi_app):
        samples, fixture = recording("asterisk/conf-getpin~cut")
        hesitation = fixture.segments[1]
        assert hesitation.kind == "hesitation_pause" and hesitation.end - hesitation.start > 0.45  # the VAD's pause
        async with await converse(asgi_app, samples) as client:
            event = await client.wait_for_event("pause_detected", timeout=5)
            assert client.events().count("pause_detected") == 1  # none in the hesitation
            assert event["data"]["duration"] > fixture.segments[2].end  # both parts and the hesitation, one turn
            assert event["data"]["complete"] > 0.5
