"""The output tracks under any interleaving of producer calls, and failures the session must notice."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.media.audio import FRAME_SAMPLES
from rtcstream.media.tracks import DTX_AFTER_FRAMES, DTX_PERIOD_FRAMES, AudioOutputTrack
from tests.handlers import tone

FAST_PERIOD = 0.002  # 10x real time: the interleavings are what matters here

op = st.one_of(
    st.tuples(st.just("put"), st.integers(1, 3000)),  # samples at 48 kHz: from a sliver to 3 frames
    st.tuples(st.just("clear"), st.just(0)),
    st.tuples(st.just("end"), st.just(0)),
    st.tuples(st.just("wait"), st.integers(0, 6)),  # milliseconds
)


async def _drive(ops: list[tuple[str, int]]) -> None:
    track = AudioOutputTrack(max_buffer=0.05, frame_period=FAST_PERIOD)
    received: list[np.ndarray] = []
    errors: list[BaseException] = []

    async def reader() -> None:
        try:
            while True:
                frame = await track.recv()
                array = frame.to_ndarray()
                assert array.shape == (1, FRAME_SAMPLES * 2) and frame.sample_rate == 48000
                received.append(array[0, ::2])
        except MediaStreamError:
            pass
        except BaseException as exc:  # anything else would have stopped aiortc's sender
            errors.append(exc)

    # Two actors, as in a session: the runner puts chunks one after another (each put may wait
    # for room), while barge-in (clear) and the end come from elsewhere at any moment.
    puts: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()

    async def producer() -> None:
        while (item := await puts.get()) is not None:
            value, amount = item
            await track.put((48000, np.full(amount, value, dtype=np.int16)))

    reading = asyncio.ensure_future(reader())
    producing = asyncio.ensure_future(producer())
    put_values, cleared, ended = [], False, False
    for index, (kind, amount) in enumerate(ops):
        if kind == "put":
            value = index + 1  # each chunk has its own constant value, so order can be checked
            put_values.append((value, amount))
            puts.put_nowait((value, amount))
        elif kind == "clear":
            cleared = True
            track.clear()
        elif kind == "end":
            ended = True
            track.end()
        else:
            await asyncio.sleep(amount / 1000)
    puts.put_nowait(None)
    async with asyncio.timeout(5):
        await producing  # the reader keeps taking, so no put waits for ever
        track.end()
        await reading
    assert not errors, errors
    assert track.failure is None
    assert track.finished  # ended in order, after what was queued went out
    heard = np.concatenate(received) if received else np.zeros(0, dtype=np.int16)
    heard = heard[heard != 0]
    # Whatever was dropped by clear() or refused after end(), what plays keeps the order it was put in.
    assert np.all(np.diff(heard) >= 0)
    if not cleared and not ended:
        expected = np.concatenate([np.full(n, v, dtype=np.int16) for v, n in put_values]) if put_values else heard
        assert np.array_equal(heard, expected)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, max_size=25))
def test_put_clear_and_end_at_any_moment_never_break_recv(ops):
    asyncio.run(_drive(ops))


async def test_between_replies_the_audio_track_sends_silence_every_20_ms():
    track = AudioOutputTrack()
    loop = asyncio.get_running_loop()
    started = loop.time()
    frames = [await track.recv() for _ in range(10)]
    elapsed = loop.time() - started
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(10)]  # one unbroken RTP timeline
    assert not any(f.to_ndarray().any() for f in frames)
    assert elapsed >= 9 * 0.02 - 0.005  # paced, not bursted
    await track.put((48000, tone(440, 0.02, 48000)))
    assert (await track.recv()).to_ndarray().any()  # a reply goes out with the next frame
    track.stop()


async def test_without_idle_frames_nothing_is_sent_until_a_reply_and_stop_ends_the_wait():
    track = AudioOutputTrack(idle_frames=False)
    waiting = asyncio.create_task(track.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done()  # no RTP between replies
    await track.put((48000, tone(440, 0.02, 48000)))
    frame = await asyncio.wait_for(waiting, 1)
    assert frame.to_ndarray().any()
    waiting = asyncio.create_task(track.recv())
    await asyncio.sleep(0.05)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiting, 1)


async def test_between_replies_with_dtx_the_track_sends_two_packets_in_400_ms_and_a_reply_at_once():
    track = AudioOutputTrack()
    track.send_opus_packets(dtx=True)
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, int, int]] = []  # (loop time, pts, bytes), as aiortc's sender pulls them

    async def pull() -> None:
        while True:
            packet = await track.recv()
            sent.append((loop.time(), packet.pts, packet.size))

    async def until(condition) -> None:
        async with asyncio.timeout(5):
            while not condition():
                await asyncio.sleep(0.002)

    puller = asyncio.create_task(pull())
    try:
        await until(lambda: len(sent) >= DTX_AFTER_FRAMES + 6)
        sizes = [size for _, _, size in sent]
        assert min(sizes[:DTX_AFTER_FRAMES]) > 1  # 200 ms of silence in full first
        quiet = sent[DTX_AFTER_FRAMES:]
        assert [size for _, _, size in quiet] == [1, 3, 1, 3, 1, 3]  # a DTX packet (a TOC byte), a keepalive
        for (at, pts, _), (next_at, next_pts, _) in zip(quiet, quiet[1:], strict=False):
            frames = (next_pts - pts) // FRAME_SAMPLES
            # The keepalive 19 frames on (more when the loop woke the sender late: its timestamp is placed on the
            # wall clock, as the next line checks), the next DTX packet one frame after it.
            assert frames == 1 or frames >= DTX_PERIOD_FRAMES - 1
            assert abs((next_at - at) - frames * 0.02) < 0.015  # timestamps follow the wall clock
        # A reply in the middle of a quiet stretch goes out at once, on the wall clock's timeline.
        await until(lambda: sent[-1][2] == 1 and loop.time() - sent[-1][0] > 0.1)
        count, asked = len(sent), loop.time()
        await track.put((48000, tone(440, 0.1, 48000)))
        await until(lambda: len(sent) > count)
        at, pts, size = sent[count]
        assert size > 3 and at - asked < 0.01
        assert abs((pts - sent[0][1]) / 48000 - (at - sent[0][0])) < 0.025
    finally:
        puller.cancel()
        track.stop()


pytestmark_sessions = pytest.mark.django_db(transaction=True)


async def echo_until_media_error(asgi_app) -> dict:
    """Run an echo session until the server reports a media_error; return the error message."""
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 5.0, 48000)))
        error = await client.wait_for_message("error", timeout=10)
        closed = await client.wait_closed(timeout=5)
    assert error["code"] == "media_error" and closed["reason"] == "media_error"
    return error


def fail_the_output_track(monkeypatch, at: int = 25) -> None:
    """Make the audio output track raise in its ``at``-th frame (a bug in the server's media)."""
    calls = 0
    take = AudioOutputTrack._take

    def failing_take(self):
        nonlocal calls
        calls += 1
        if calls == at:
            raise RuntimeError("boom in the output track")
        return take(self)

    monkeypatch.setattr(AudioOutputTrack, "_take", failing_take)


@pytestmark_sessions
async def test_a_failing_output_track_ends_the_session_and_tells_the_page(asgi_app, monkeypatch, caplog):
    fail_the_output_track(monkeypatch)
    error = await echo_until_media_error(asgi_app)
    assert "boom" not in error["message"]  # internal text stays in the log
    assert any("boom in the output track" in r.getMessage() or "boom" in (r.exc_text or "") for r in caplog.records)


@pytestmark_sessions
async def test_a_frame_that_aiortcs_encoder_rejects_ends_the_session(asgi_app, monkeypatch):
    """aiortc's sender stops for good on an encoder error (and only logs it): the session must notice."""
    import av

    from rtcstream.media import tracks

    calls = 0
    make_frame = tracks.make_frame

    def sometimes_malformed(samples, pts):
        nonlocal calls
        calls += 1
        frame = make_frame(samples, pts)
        if calls == 25:  # planar float: the Opus encoder asserts s16
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, FRAME_SAMPLES), dtype=np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48000, pts
        return frame

    monkeypatch.setattr(tracks, "make_frame", sometimes_malformed)
    await echo_until_media_error(asgi_app)


@pytestmark_sessions
async def test_a_hang_up_the_sender_notices_first_is_a_disconnect_not_a_media_error(asgi_app, monkeypatch, caplog):
    """aiortc's sender can stop on the closed transport before the connection reports "closed"
    (1 hang-up in ~160 was logged as media_error): the session looks at the transport."""
    from rtcstream.session.lifecycle import Session

    on_state = Session.on_media_state

    def late(self, state):  # the connection's "closed" arrives after the sender's grace
        if state == "closed":
            self.loop.call_later(1.5, on_state, self, state)
        else:
            on_state(self, state)

    monkeypatch.setattr(Session, "on_media_state", late)
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 5.0, 48000)))
        await client.wait_for_audio(seconds=0.3)
        await client.pc.close()  # DTLS close_notify: the server's transport closes under its sender
        closed = await client.wait_closed(timeout=5)
    assert closed["reason"] == "disconnected"
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
