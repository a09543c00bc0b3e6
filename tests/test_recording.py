"""Recordings and transcripts: consent first, both directions in one WAV, stored through Django's storage."""

from __future__ import annotations

import asyncio
import io
import json
import wave

import numpy as np
import pytest
import soxr
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.utils.timezone import now as timezone_now
from scipy import signal

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.endpoints.resolution import from_row
from rtcstream.models import Recording, StreamEndpoint
from tests import speech
from tests.handlers import tone
from tests.lifecycle import assert_nothing_left
from tests.polling import settled_async

pytestmark = [pytest.mark.django_db(transaction=True)]

RATE = 16000  # RECORDING_SAMPLE_RATE's default


@pytest.fixture(autouse=True)
def _espeak():
    speech.require_espeak()


async def recordings_of(session_id: str, timeout: float = 15.0) -> dict[str, Recording]:
    """The session's recordings by kind, once there are some (or none at the deadline)."""

    async def rows() -> dict[str, Recording]:
        return {r.kind: r async for r in Recording.objects.filter(session_id=session_id)}

    return await settled_async(rows, timeout=timeout)


def read_wav(storage, name: str) -> tuple[int, np.ndarray]:
    """The file's rate and its samples as (frames, channels)."""
    with storage.open(name, "rb") as stored, wave.open(io.BytesIO(stored.read())) as wav:
        assert wav.getsampwidth() == 2
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return wav.getframerate(), data.reshape(-1, wav.getnchannels())


def onset(samples: np.ndarray) -> float:
    return speech.energy_onset(samples, RATE) / RATE


def voiced_seconds(samples: np.ndarray) -> float:
    """From the first to the last 5 ms block above -45 dBFS."""
    return (len(samples) - speech.energy_onset(samples[::-1], RATE) - speech.energy_onset(samples, RATE)) / RATE


def lag_seconds(a: np.ndarray, b: np.ndarray) -> float:
    """How much later ``b`` is than ``a``, by cross-correlation."""
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    correlation = signal.correlate(b, a, mode="full", method="fft")
    return float(signal.correlation_lags(len(b), len(a), mode="full")[np.argmax(correlation)]) / RATE


async def talk(client: RtcClient, samples: np.ndarray, *, consent: bool | None = True) -> ArrayAudioTrack:
    if consent is not None:
        await client.consent(consent)
    track = ArrayAudioTrack(samples)
    await client.start(audio=track)
    seconds = samples.size / 48000
    await client.wait_until(lambda: track.elapsed() >= seconds, timeout=seconds + 10)
    return track


async def test_both_directions_are_recorded_in_one_file_in_time_with_each_other(asgi_app, storage):
    said = speech.utterance(lead=0.6, tail=1.0)
    async with await RtcClient.connect(asgi_app, "t-echo-recorded") as client:
        assert client.session["recording"] is True  # the page asks before it captures
        track = await talk(client, said.samples)
        await client.stop()
        session_id = client.session["session"]
    # The echo's round trip as this client saw it: from the first word sent to its echo's first sound.
    first_word = track.started_at + speech.energy_onset(said.samples) / 48000
    round_trip = client.audio.audible()[0][0] - first_word
    rows = await recordings_of(session_id)
    audio = rows["audio"]
    assert (audio.storage, audio.content_type, audio.dropped_seconds) == ("recordings", "audio/wav", 0.0)
    assert audio.name.endswith(f"{session_id}/conversation.wav") and storage.exists(audio.name)
    assert audio.channels == "left: visitor (heard by the server) | right: server (sent)"
    rate, samples = await sync_to_async(read_wav)(storage, audio.name)
    assert rate == RATE and samples.shape[1] == 2
    assert audio.size == storage.size(audio.name)
    assert audio.seconds == pytest.approx(samples.shape[0] / RATE, abs=0.001)
    assert audio.seconds >= said.seconds - 0.2
    heard, sent = samples[:, 0], samples[:, 1]
    # What the server heard is all that was said, and not before it was said (a frame late on the
    # network is heard later, never dropped: rtcstream.media.inbound).
    spoken = soxr.resample(said.samples.astype(np.float32), 48000, RATE).astype(np.int16)
    assert onset(heard) >= onset(spoken) - 0.05
    assert voiced_seconds(heard) >= voiced_seconds(spoken) - 0.02
    # What it sent is the echo of it, later by the server's share of that round trip: the channels
    # are in time with each other.
    delay = lag_seconds(heard, sent)
    assert 0.0 <= delay <= round_trip + 0.02, (delay, round_trip)
    level = lambda x: float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
    assert level(sent) == pytest.approx(level(heard), rel=0.3)


def test_each_direction_is_placed_by_when_it_began_and_the_frames_it_skipped(monkeypatch):
    """A recording's clock, frame by frame: the offsets of the two directions, and the silence the
    output track skips (Opus DTX between replies) kept as silence."""
    from rtcstream.recording import recorder as recorder_module
    from rtcstream.recording.recorder import SessionRecorder
    from rtcstream.recording.writer import RecordingFiles, RecordingWriter

    now = [100.0]
    monkeypatch.setattr(recorder_module.time, "monotonic", lambda: now[0])
    finished = {}
    monkeypatch.setattr(RecordingFiles, "_record", lambda self, stored, alias: finished.update(stored=stored))
    monkeypatch.setattr(RecordingFiles, "_store", lambda self, dropped, alias, prefix: self._keep())

    def keep(self):
        channels = list(self.channels.values())
        total = max(c.written for c in channels)
        finished["columns"] = [c.read(0, total) for c in channels]
        return []

    monkeypatch.setattr(RecordingFiles, "_keep", keep, raising=False)
    writer = RecordingWriter(max_pending_bytes=1 << 30)
    recorder = SessionRecorder(writer, "clock", timezone_now(), heard=True, sent=True)
    click = np.zeros(960, dtype=np.int16)
    click[480] = 20000  # a click in the middle of a 20 ms frame
    quiet = np.zeros(960, dtype=np.int16)
    # The track sends its first frame (index 500) 0.1 s in; a click in frame 530 (0.6 s later), then
    # frames 540-549 are skipped (DTX), and frame 560 clicks again.
    now[0] = 100.1
    for index in [*range(500, 540), *range(550, 570)]:
        samples = click if index in (530, 560) else quiet
        recorder.sent(index, None if not samples.any() else np.repeat(samples, 2))
    # The handler hears its first frame at 0.3 s (so it began 0.28 s in), a click in its 10th frame.
    now[0] = 100.3
    for n in range(20):
        recorder.heard(48000, (click if n == 10 else quiet).reshape(1, -1), "mono")
    asyncio.run(recorder.finish())
    heard, sent = finished["columns"]

    def click_at(column, after: float = 0.0) -> float:
        start = int(after * RATE)
        return (start + int(np.flatnonzero(np.abs(column[start:]) > 3000)[0])) / RATE

    # Each click where its frame was, to a sample or two (the resampler spreads a click over a few).
    assert click_at(sent) == pytest.approx(0.1 + 30 * 0.02 + 0.01, abs=0.002)
    assert click_at(sent, after=0.9) == pytest.approx(0.1 + 60 * 0.02 + 0.01, abs=0.002)
    assert click_at(heard) == pytest.approx(0.28 + 10 * 0.02 + 0.01, abs=0.002)
    assert len(sent) >= round((0.1 + 70 * 0.02) * RATE) - 2  # to the end of the last frame sent


async def test_nothing_is_recorded_without_consent(asgi_app, storage):
    for consent in (None, False):
        async with await RtcClient.connect(asgi_app, "t-echo-recorded") as client:
            await talk(client, speech.silence(1.5), consent=consent)
            await client.stop()
            session_id = client.session["session"]
        await assert_nothing_left()  # the session is over: a recording would have been stored by now
        assert await Recording.objects.filter(session_id=session_id).acount() == 0


async def test_consent_after_the_start_records_from_then_on(asgi_app, storage):
    async with await RtcClient.connect(asgi_app, "t-echo-recorded") as client:
        track = await talk(client, speech.silence(1.0), consent=None)
        await client.consent(True)
        said = np.concatenate([speech.speech(), speech.silence(0.5)])
        track.play(said)
        await client.wait_until(lambda: track.elapsed() > 1.0 + said.size / 48000, timeout=15)
        await client.stop()
        session_id = client.session["session"]
    audio = (await recordings_of(session_id))["audio"]
    _, samples = await sync_to_async(read_wav)(storage, audio.name)
    # The speech began right after the consent, and so did the file: a file from the session's start would
    # hold the second of silence before the consent first. (Not 0: the frames in flight when the consent
    # arrived are recorded, and under load the media runs some hundreds of ms behind the socket.)
    assert onset(samples[:, 0]) < 0.7


async def test_an_endpoint_that_does_not_record_ignores_consent(asgi_app, storage):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        assert client.session["recording"] is False
        await talk(client, speech.silence(1.0))
        await client.stop()
        session_id = client.session["session"]
    assert await Recording.objects.filter(session_id=session_id).acount() == 0


async def test_the_transcript_is_the_text_of_the_outputs_beside_the_audio(asgi_app, storage):
    said = speech.utterance(lead=0.5, tail=2.5)
    async with await RtcClient.connect(asgi_app, "t-reply-recorded") as client:
        await talk(client, said.samples)
        await client.wait_for_event("playback_done", timeout=15)
        await client.stop()
        session_id = client.session["session"]
    rows = await recordings_of(session_id)
    assert set(rows) == {"audio", "transcript"}
    transcript = rows["transcript"]
    assert transcript.name.endswith(f"{session_id}/transcript.jsonl")
    with storage.open(transcript.name, "rb") as stored:
        lines = [json.loads(line) for line in stored.read().decode().splitlines()]
    assert [(line["role"], line["text"].endswith("seconds of speech")) for line in lines] == [
        ("user", True),
        ("", False),
    ]
    assert lines[1]["text"] == "played it back"
    assert 0 < lines[0]["at"] < lines[1]["at"] <= rows["audio"].seconds + 0.5


@pytest.mark.parametrize(
    ("slug", "channels"),
    [("t-tones-recorded", "server (sent)"), ("t-level-recorded", "visitor (heard by the server)")],
)
async def test_a_one_way_session_is_recorded_in_mono(asgi_app, storage, slug, channels):
    async with await RtcClient.connect(asgi_app, slug) as client:
        await client.consent(True)
        if client.session["mode"] == "receive":
            await client.start()
            await client.wait_for_audio(1.5, timeout=10)
        else:
            track = ArrayAudioTrack(np.concatenate([speech.speech(), speech.silence(0.3)]))
            await client.start(audio=track)
            await client.wait_until(lambda: track.elapsed() > 2.0, timeout=10)
        await client.stop()
        session_id = client.session["session"]
    audio = (await recordings_of(session_id))["audio"]
    assert audio.channels == channels
    _, samples = await sync_to_async(read_wav)(storage, audio.name)
    assert samples.shape[1] == 1 and np.abs(samples).max() > 1000


async def test_a_writer_that_falls_behind_drops_audio_but_keeps_the_length(asgi_app, storage, settings):
    settings.RTCSTREAM = {**django_settings.RTCSTREAM, "RECORDING_MAX_PENDING_BYTES": 1}  # nothing fits
    async with await RtcClient.connect(asgi_app, "t-echo-recorded") as client:
        await talk(client, np.concatenate([speech.silence(0.3), speech.speech(), speech.silence(0.5)]))
        await client.stop()
        session_id = client.session["session"]
    audio = (await recordings_of(session_id))["audio"]
    assert audio.dropped_seconds > 1.0  # each direction's speech
    _, samples = await sync_to_async(read_wav)(storage, audio.name)
    assert np.abs(samples).max() == 0 and audio.seconds > 1.5  # silence stands in for what was dropped


async def test_a_recording_stops_at_its_longest(asgi_app, storage, settings):
    settings.RTCSTREAM = {**django_settings.RTCSTREAM, "RECORDING_MAX_SECONDS": 1.0}
    async with await RtcClient.connect(asgi_app, "t-echo-recorded") as client:
        await talk(client, np.concatenate([speech.speech(), speech.silence(0.5)]))
        await client.stop()
        session_id = client.session["session"]
    audio = (await recordings_of(session_id))["audio"]
    assert audio.seconds <= 1.0


def test_an_admin_row_records_or_not_whatever_its_registry_entry_says(settings):
    recorded = StreamEndpoint.objects.create(slug="a", handler="t-echo-recorded")
    assert from_row(recorded).record is True  # empty: the entry's
    recorded.record = False
    assert from_row(recorded).record is False
    plain = StreamEndpoint.objects.create(slug="b", handler="t-echo", record=True)
    assert from_row(plain).record is True


def levels(column: np.ndarray, start: float, end: float) -> float:
    """The RMS level of ``column`` from ``start`` to ``end`` seconds (0 past its end)."""
    part = column[int(start * RATE) : int(end * RATE)].astype(np.float64)
    return float(np.sqrt(np.mean(part**2))) if part.size else 0.0


async def test_a_renewed_consent_records_again_in_the_same_file_with_the_withdrawn_span_silent(asgi_app, storage):
    """true, false, true while the visitor speaks: one file, in time, the withdrawn span silence."""
    async with await RtcClient.connect(asgi_app, "t-echo-recorded") as client:
        await client.consent(True)
        track = ArrayAudioTrack(tone(440, 30, 48000))
        await client.start(audio=track)
        for seconds, consent in ((2.0, False), (4.0, True), (8.0, None)):
            await client.wait_until(lambda seconds=seconds: track.elapsed() >= seconds, timeout=seconds + 10)
            if consent is not None:
                await client.consent(consent)
        await client.stop()
        session_id = client.session["session"]
    audio = (await recordings_of(session_id))["audio"]
    assert await Recording.objects.filter(session_id=session_id, kind="audio").acount() == 1
    _, samples = await sync_to_async(read_wav)(storage, audio.name)
    heard, sent = samples[:, 0], samples[:, 1]
    per_second = [[round(levels(column, s, s + 1)) for s in range(8)] for column in (heard, sent)]
    # The tone before the withdrawal (at 2 s) and after the renewed consent (at 4 s), where it was
    # said: the file's clock ran on through the withdrawn span, which holds nothing of the visitor,
    # nor of its echo: silence (the resampler's dither, one step at most).
    for column in (heard, sent):
        assert levels(column, 0.4, 1.8) > 1000, per_second
        assert levels(column, 4.6, 7.4) > 1000, per_second
        assert np.abs(column[int(2.6 * RATE) : int(3.6 * RATE)]).max() <= 1, per_second
    assert 7.5 <= audio.seconds <= 9.0, (audio.seconds, per_second)
    await assert_nothing_left()


def test_a_paused_recording_keeps_its_clock(monkeypatch):
    """Withdrawn, then given again: what came meanwhile is silence (or no line) and what follows is where
    it happened; a direction that begins while withdrawn begins when recorded; a last withdrawal ends the file."""
    from rtcstream.recording import recorder as recorder_module
    from rtcstream.recording.recorder import SessionRecorder
    from rtcstream.recording.writer import RecordingFiles, RecordingWriter

    now = [100.0]
    monkeypatch.setattr(recorder_module.time, "monotonic", lambda: now[0])
    finished: dict = {}
    monkeypatch.setattr(RecordingFiles, "_record", lambda self, stored, alias: None)

    def store(self, dropped, alias, prefix):
        finished["columns"] = [c.read(0, c.written) for c in self.channels.values()]
        self._transcript.seek(0)
        finished["lines"] = [json.loads(line) for line in self._transcript]
        return []

    monkeypatch.setattr(RecordingFiles, "_store", store)
    recorder = SessionRecorder(
        RecordingWriter(max_pending_bytes=1 << 30), "pause", timezone_now(), heard=True, sent=True
    )
    loud = np.full((1, 320), 10000, dtype=np.int16)  # 20 ms at 16 kHz: no resampling, so exact positions
    for n in range(150):  # 3 s heard: recorded 0-1 s and 2-2.5 s, withdrawn 1-2 s and from 2.5 s on
        now[0] = 100.0 + (n + 1) * 0.02
        if n == 50:
            recorder.stop_capture()
            recorder.add_line("user", "not recorded")
            recorder.sent(7, np.full(1920, 10000, dtype=np.int16))  # the track's first frame: not recorded
            recorder.stop_capture()  # false, false
        if n == 100:
            recorder.resume_capture()
            recorder.resume_capture()  # true, true
            recorder.add_line("user", "recorded")
            recorder.sent(57, np.full(1920, 10000, dtype=np.int16))  # the track begins now, 2.02 s in
        if n == 125:
            recorder.stop_capture()
        recorder.heard(16000, loud, "mono")
    asyncio.run(recorder.finish())
    heard, sent = finished["columns"]
    assert heard.size == round(2.5 * RATE)  # to the last sample recorded: no silence after the withdrawal
    assert not heard[RATE : 2 * RATE].any() and heard[:RATE].all() and heard[2 * RATE :].all()
    assert np.flatnonzero(sent)[0] == pytest.approx(2.02 * RATE, abs=2)
    assert finished["lines"] == [{"at": 2.02, "role": "user", "text": "recorded"}]
