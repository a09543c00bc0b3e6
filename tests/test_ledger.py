"""The session ledger: turns from ReplyOnPause's events, written off the loop, on the server's clock."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from django.conf import settings as django_settings

from rtcstream.admission import refusals
from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.execution import calls
from rtcstream.handlers.turn_taking import TurnOptions
from rtcstream.ledger.turns import TurnRecord, TurnTracker
from rtcstream.ledger.writer import LedgerWriter, SessionUpdate, TurnRow
from rtcstream.models import SessionStatus, StreamSession, Turn
from rtcstream.reasons import Refusal
from rtcstream.runtime import get_runtime
from tests import speech
from tests.polling import settled_async


class TestTurnTracker:
    """The events in the orders ReplyOnPause sends them, and the turns they make."""

    def track(self) -> tuple[TurnTracker, list[TurnRecord]]:
        finished: list[TurnRecord] = []
        return TurnTracker(finished.append), finished

    def test_a_turn_that_plays_out(self):
        tracker, done = self.track()
        for name, data, at in [
            ("started_talking", {"onset": 0.5}, 1.0),
            ("pause_detected", {"reason": "pause", "duration": 2.1, "silence": 0.46}, 3.0),
            ("response_starting", {}, 3.2),
            ("response_done", {}, 4.0),
        ]:
            tracker.event(name, data, at)
        tracker.reply_audio(3.25)
        tracker.reply_audio(3.5)  # only the first frame counts
        tracker.output(3.1)
        assert done == []
        tracker.event("playback_done", {}, 4.4)
        [turn] = done
        assert (turn.index, turn.cause, turn.outcome) == (1, "pause", "completed")
        assert (turn.speech_started, turn.pause_detected, turn.first_audio, turn.playback_done) == (1.0, 3.0, 3.25, 4.4)
        assert turn.reply_latency == pytest.approx(0.25)
        assert turn.output_latency == pytest.approx(0.1)
        assert (turn.utterance_seconds, turn.silence_seconds) == (2.1, 0.46)

    def test_speech_over_a_reply_interrupts_the_turn_being_answered(self):
        tracker, done = self.track()
        tracker.event("started_talking", {}, 1.0)
        tracker.event("pause_detected", {"reason": "pause"}, 2.0)
        tracker.event("response_starting", {}, 2.2)
        tracker.event("started_talking", {}, 3.0)  # then ReplyOnPause stops the reply
        tracker.event("interrupted", {}, 3.0)
        [first] = done
        assert (first.index, first.outcome, first.interrupted) == (1, "interrupted", 3.0)
        tracker.event("pause_detected", {"reason": "pause"}, 4.0)
        tracker.event("response_starting", {}, 4.1)
        tracker.event("playback_done", {}, 5.0)
        assert [(t.index, t.outcome, t.speech_started) for t in done] == [
            (1, "interrupted", 1.0),
            (2, "completed", 3.0),
        ]
        assert tracker.interruptions == 1

    def test_a_pause_while_a_reply_plays_interrupts_the_previous_turn(self):
        tracker, done = self.track()
        tracker.event("pause_detected", {"reason": "trigger"}, 1.0)
        tracker.event("response_starting", {}, 1.1)
        tracker.event("pause_detected", {"reason": "trigger"}, 2.0)  # then ReplyOnPause interrupts the first reply
        tracker.event("interrupted", {}, 2.0)
        assert [(t.index, t.outcome) for t in done] == [(1, "interrupted")]
        tracker.event("response_starting", {}, 2.1)
        tracker.event("playback_done", {}, 3.0)
        assert [(t.index, t.cause, t.outcome) for t in done] == [
            (1, "trigger", "interrupted"),
            (2, "trigger", "completed"),
        ]
        assert done[1].silence_seconds is None  # a trigger is not a pause

    def test_a_greeting_is_a_turn_of_its_own_and_an_unanswered_utterance_is_kept_at_the_end(self):
        tracker, done = self.track()
        tracker.event("response_starting", {}, 0.5)
        tracker.event("response_done", {}, 0.6)
        tracker.event("playback_done", {}, 0.9)
        tracker.event("started_talking", {}, 2.0)
        tracker.close()
        assert [(t.index, t.cause, t.outcome) for t in done] == [(1, "startup", "completed"), (2, "", "unanswered")]

    def test_an_error_fails_the_turn_being_answered(self):
        tracker, done = self.track()
        tracker.event("started_talking", {}, 1.0)
        tracker.event("pause_detected", {"reason": "pause"}, 2.0)
        tracker.error("handler_error: RuntimeError: boom")
        tracker.close()
        [turn] = done
        assert (turn.outcome, turn.error) == ("error", "handler_error: RuntimeError: boom")

    def test_an_hour_of_turns_holds_no_more_than_three(self):
        kept = []
        tracker = TurnTracker(lambda turn: None)
        for n in range(5000):
            t = n * 1.0
            tracker.event("started_talking", {}, t)
            tracker.event("pause_detected", {"reason": "pause"}, t + 0.5)
            tracker.event("response_starting", {}, t + 0.6)
            if n % 2:
                tracker.event("started_talking", {}, t + 0.7)
                tracker.event("interrupted", {}, t + 0.7)
            else:
                tracker.event("playback_done", {}, t + 0.9)
            kept.append(sum(x is not None for x in (tracker._listening, tracker._answering, tracker._replaced)))
        assert max(kept) <= 3
        assert (tracker.turns, tracker.interruptions) == (5000, 2500)


class TestLedgerWriter:
    def test_writes_are_bounded_while_the_database_is_slow_and_the_oldest_are_dropped(self, monkeypatch):
        writer = LedgerWriter(max_pending=5)
        gate = threading.Event()
        written: list[list] = []

        def slow_write(batch):
            gate.wait(10)
            written.append(batch)

        monkeypatch.setattr(writer, "_write", slow_write)
        writer.put(SessionUpdate("first", {}))  # taken by the thread, which then waits
        deadline = time.monotonic() + 5
        while writer.pending() != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(20):
            writer.put(SessionUpdate(f"s{n}", {}))
        assert len(writer._pending) == 5 and writer.dropped == 15
        done = writer.barrier()  # a barrier counts as a queued write, and pushes out one more
        gate.set()
        done.result(timeout=5)
        assert [[w.session_id for w in batch] for batch in written] == [["first"], ["s16", "s17", "s18", "s19"]]

    @pytest.mark.django_db(transaction=True)
    def test_a_turn_of_a_session_that_is_gone_is_dropped_and_the_others_are_written(self):
        StreamSession.objects.create(session_id="here", endpoint_slug="t")
        writer = LedgerWriter(max_pending=100)
        row = {"endpoint_slug": "t", "index": 1, "outcome": "completed", "started_at": "2026-12-01T10:00:00Z"}
        writer.put(TurnRow({**row, "session_id": "here"}))
        writer.put(TurnRow({**row, "session_id": "gone"}))
        writer.put(SessionUpdate("here", {"turn_count": 1}))
        writer.barrier().result(timeout=10)
        assert list(Turn.objects.values_list("session_id", flat=True)) == ["here"]
        assert StreamSession.objects.get().turn_count == 1
        assert writer.failed == 1


# -- real sessions -------------------------------------------------------------------------------


async def wait_for(query, timeout: float = 10.0):
    """Poll an async query until it returns something truthy (the ledger writes off the loop)."""
    result = await settled_async(query, timeout=timeout)
    assert result, "the ledger did not write it in time"
    return result


async def turns_of(session_id: str) -> list[Turn]:
    return [t async for t in Turn.objects.filter(session_id=session_id).order_by("index")]


async def play(client: RtcClient, samples: np.ndarray) -> ArrayAudioTrack:
    track = ArrayAudioTrack(samples)
    await client.start(audio=track)
    return track


@pytest.mark.django_db(transaction=True)
class TestSessions:
    @pytest.fixture(autouse=True)
    def _espeak(self):
        speech.require_espeak()

    async def test_a_turn_is_recorded_with_the_servers_own_times(self, asgi_app):
        recording = speech.utterance(lead=0.5, tail=2.5)
        async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
            await play(client, recording.samples)
            pause = await client.wait_for_event("pause_detected", timeout=15)
            await client.wait_for_event("playback_done", timeout=15)
            await client.stop()
            session_id = client.session["session"]
        [turn] = await wait_for(lambda: turns_of(session_id))
        row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id, media_seconds__gt=0).afirst())
        assert (turn.endpoint_slug, turn.index, turn.cause, turn.outcome) == ("t-reply-echo", 1, "pause", "completed")
        moments = [
            turn.speech_started_at,
            turn.pause_detected_at,
            turn.reply_started_at,
            turn.first_audio_at,
            turn.response_done_at,
            turn.playback_done_at,
        ]
        assert None not in moments and moments == sorted(moments), moments
        assert turn.started_at == turn.speech_started_at
        # The latency is the server's: from the pause to the first reply frame sent.
        assert turn.reply_latency_ms == pytest.approx(
            (turn.first_audio_at - turn.pause_detected_at).total_seconds() * 1000, abs=0.2
        )
        assert 0 < turn.reply_latency_ms < 500, turn.reply_latency_ms  # the echo replies at once
        # The pause waited min_silence_s of silence (in 32 ms windows), as the page was told.
        assert turn.pause_ms == pytest.approx(pause["data"]["silence"] * 1000, abs=0.6)
        assert TurnOptions().min_silence_s * 1000 <= turn.pause_ms < TurnOptions().min_silence_s * 1000 + 64
        spoken = (recording.utterances[0][1] - recording.utterances[0][0]) / 48000
        assert turn.utterance_seconds == pytest.approx(pause["data"]["duration"], abs=0.001)
        assert spoken <= turn.utterance_seconds < spoken + 1.0
        assert turn.output_latency_ms is not None and turn.output_latency_ms < turn.reply_latency_ms + 50
        # The session's row: when media connected, for how long, and its one turn.
        assert row.connected_at is not None and row.started_at <= row.connected_at <= turn.started_at
        assert (row.turn_count, row.interruption_count, row.error, row.end_reason) == (1, 0, "", "client_stop")
        assert row.media_seconds == pytest.approx((row.ended_at - row.connected_at).total_seconds(), abs=0.5)

    async def test_barge_in_is_an_interrupted_turn_and_the_next_one_follows(self, asgi_app):
        first = speech.utterance(lead=0.5, tail=0.0)
        async with await RtcClient.connect(asgi_app, "t-reply-tone") as client:
            track = await play(client, np.concatenate([first.samples, speech.silence(10)]))
            await client.wait_for_event("response_starting", timeout=15)
            await client.wait_until(lambda: client.audio.audible_seconds() > 0.5, timeout=5)
            track.play(np.concatenate([speech.speech(), speech.silence(10)]))
            await client.wait_for_event("interrupted", timeout=5)
            await client.wait_until(lambda: client.events().count("response_starting") >= 2, timeout=15)
            await client.stop()
            session_id = client.session["session"]
        row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id, turn_count__gt=0).afirst())
        turns = await turns_of(session_id)
        assert [(t.index, t.outcome) for t in turns] == [(1, "interrupted"), (2, "unfinished")]
        assert turns[0].interrupted_at < turns[1].pause_detected_at
        assert turns[0].first_audio_at is not None and turns[0].playback_done_at is None
        assert (row.turn_count, row.interruption_count) == (2, 1)

    async def test_a_failing_reply_is_an_error_on_the_turn_and_the_session(self, asgi_app):
        async with await RtcClient.connect(asgi_app, "t-reply-fails") as client:
            await play(client, speech.utterance(lead=0.5, tail=3.0).samples)
            closed = await client.wait_closed(timeout=15)
            assert closed["reason"] == "handler_error"
            session_id = client.session["session"]
        row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id).exclude(error="").afirst())
        [turn] = await turns_of(session_id)
        assert row.error == turn.error == "handler_error: RuntimeError: the reply broke"
        assert (turn.outcome, row.end_reason, row.turn_count) == ("error", "handler_error", 1)

    async def test_a_greeting_is_turn_one(self, asgi_app):
        async with await RtcClient.connect(asgi_app, "t-reply-greeting") as client:
            await play(client, speech.silence(3))
            await client.wait_for_event("playback_done", timeout=15)
            await client.stop()
            session_id = client.session["session"]
        [turn] = await wait_for(lambda: turns_of(session_id))
        assert (turn.cause, turn.outcome, turn.pause_detected_at, turn.reply_latency_ms) == (
            "startup",
            "completed",
            None,
            None,
        )
        assert turn.started_at == turn.reply_started_at and turn.first_audio_at > turn.reply_started_at

    async def test_the_ledger_writes_in_its_own_thread_never_on_the_loop(self, asgi_app, monkeypatch):
        from rtcstream.ledger import writer

        threads = []
        apply = writer._apply
        monkeypatch.setattr(
            writer,
            "_apply",
            lambda batch, alias: (threads.append(threading.current_thread().name), apply(batch, alias))[1],
        )
        async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
            await play(client, speech.utterance(lead=0.5, tail=2.5).samples)
            await client.wait_for_event("playback_done", timeout=15)
            await client.stop()
            session_id = client.session["session"]
        await wait_for(lambda: turns_of(session_id))
        assert threads and all(name.startswith("rtcstream-ledger") for name in threads), threads

    async def test_a_session_with_no_turns_still_gets_its_minutes(self, asgi_app):
        async with await RtcClient.connect(asgi_app, "t-echo") as client:
            await play(client, speech.silence(5))
            await client.wait_for_audio(1.0, timeout=10)
            await client.stop()
            session_id = client.session["session"]
        row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id, media_seconds__gt=0).afirst())
        assert row.media_seconds >= 1.0 and row.turn_count == 0
        assert await Turn.objects.filter(session_id=session_id).acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_the_warnings_a_visitor_was_shown_are_counted_and_the_last_one_kept(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-visitor-words") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(30)), inputs=[])
        await client.wait_for_event("connected")
        for n, text in enumerate(("warn:Speak up, please.", "no warning", "warn:Still too quiet."), 1):
            await client.send_text(text)
            await client.wait_for_outputs(n, timeout=10)
        await client.wait_until(lambda: len(client.warnings()) == 2, timeout=5)
        await client.stop()
        session_id = client.session["session"]
    row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id, media_seconds__gt=0).afirst())
    assert (row.warning_count, row.last_warning, row.error) == (2, "Still too quiet.", "")
    assert client.warnings() == ["Speak up, please.", "Still too quiet."]


@pytest.mark.django_db(transaction=True)
async def test_a_warning_from_the_event_loop_is_recorded_too(asgi_app):
    """The first test's warnings come from the worker pool; this handler warns on the loop as it starts."""
    async with await RtcClient.connect(asgi_app, "t-async-warning") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        await client.wait_until(lambda: client.warnings(), timeout=10)
        await client.stop()
        session_id = client.session["session"]
    row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id, warning_count__gt=0).afirst())
    assert (row.warning_count, row.last_warning) == (1, "Started on the loop.")


@pytest.mark.django_db(transaction=True)
async def test_the_ledger_is_off_with_the_in_process_admission_backend(asgi_app, settings):
    settings.RTCSTREAM = {
        **django_settings.RTCSTREAM,
        "ADMISSION_BACKEND": "rtcstream.admission.backends.InProcessAdmission",
    }
    assert get_runtime().ledger is None and get_runtime().recordings is None
    async with await RtcClient.connect(asgi_app, "t-reply-recorded") as client:
        assert client.session["recording"] is False  # nothing to record a session in: no consent asked
        await play(client, speech.utterance(lead=0.3, tail=2.0).samples)
        await client.wait_for_event("playback_done", timeout=15)
        await client.stop()
    assert await Turn.objects.acount() == 0 and await StreamSession.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_the_ledger_can_be_turned_off(asgi_app, settings):
    settings.RTCSTREAM = {**django_settings.RTCSTREAM, "LEDGER": False}
    assert get_runtime().ledger is None
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await play(client, speech.silence(2))
        await client.wait_for_audio(0.5, timeout=10)
        await client.stop()
        session_id = client.session["session"]
    row = await StreamSession.objects.aget(session_id=session_id)  # admission's row, without the ledger's part
    assert row.end_reason == "client_stop" and row.connected_at is None and row.media_seconds is None


@pytest.mark.django_db(transaction=True)
async def test_a_session_writes_turn_rows_up_to_its_cap_and_counts_the_rest(asgi_app, settings):
    """Each typed text is a turn: without a cap one visitor could add a row to the database per message."""
    settings.RTCSTREAM = {**settings.RTCSTREAM, "LEDGER_TURNS_PER_SESSION": 2}
    async with await RtcClient.connect(asgi_app, "t-text") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(30)))
        await client.wait_for_event("connected")
        for n in range(1, 5):
            await client.send_text(f"text {n}")
            await client.wait_for_outputs(n, timeout=10)
        await client.stop()
        session_id = client.session["session"]
    row = await wait_for(lambda: StreamSession.objects.filter(session_id=session_id, media_seconds__gt=0).afirst())
    assert row.turn_count == 4
    assert [turn.index async for turn in Turn.objects.filter(session_id=session_id).order_by("index")] == [1, 2]


@pytest.mark.django_db(transaction=True)
async def test_offers_refused_before_admission_have_their_rows_too(asgi_app, settings, monkeypatch):
    """Admission writes the row of each refusal it decides; a process at MAX_SESSIONS and a stuck
    handler refuse an offer before admission is asked, and the ledger writes those rows, so that the
    admin's charts count every refused offer. A session admitted later keeps the row admission makes."""
    settings.RTCSTREAM = {**django_settings.RTCSTREAM, "MAX_SESSIONS": 1}
    async with (
        await RtcClient.connect(asgi_app, "t-echo") as refused,
        await RtcClient.connect(asgi_app, "t-echo") as streaming,
    ):
        await play(streaming, speech.silence(10))
        await streaming.wait_for_event("connected")
        with pytest.raises(RtcError) as busy:
            await play(refused, speech.silence(10))
        assert busy.value.code == Refusal.SERVER_BUSY
        busy_id = refused.session["session"]
        row = await wait_for(lambda: StreamSession.objects.filter(session_id=busy_id).afirst())
        assert (row.state, row.end_reason, row.endpoint_slug) == (SessionStatus.REFUSED, "server_busy", "t-echo")
        assert row.ended_at is not None and row.user_id is None
        await streaming.stop()
        await play(refused, speech.silence(10))  # the same session, once a stream has ended: admitted
        await refused.wait_for_event("connected")
        assert (await StreamSession.objects.aget(session_id=busy_id)).state == SessionStatus.LIVE
        await refused.stop()

    monkeypatch.setattr(calls, "stuck_calls", lambda handler: refusals.stuck_limit())
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        with pytest.raises(RtcError) as stuck:
            await play(client, speech.silence(10))
        assert stuck.value.code == Refusal.HANDLER_STUCK
        stuck_id = client.session["session"]
    row = await wait_for(lambda: StreamSession.objects.filter(session_id=stuck_id).afirst())
    assert (row.state, row.end_reason) == (SessionStatus.REFUSED, "handler_stuck")
    ended = StreamSession.objects.filter(session_id=busy_id, state=SessionStatus.ENDED, end_reason="client_stop")
    assert await ended.aexists()
    assert await StreamSession.objects.filter(state=SessionStatus.REFUSED).acount() == 1
