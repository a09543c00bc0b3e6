"""Audio sessions end to end: a real aiortc peer against the consumers, in process."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient
from tests.handlers import tone
from tests.media_checks import dominant_frequency, loud_part, rms

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_stream_handler_echo_keeps_the_tone(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        assert client.session["mode"] == "send-receive" and client.session["modality"] == "audio"
        await client.start(audio=ArrayAudioTrack(tone(660, 10, 48000)))
        await client.wait_for_event("connected")
        audio = await client.wait_for_audio(seconds=1.0)
        samples = loud_part(audio.samples())
        assert samples.size > 48000 // 2
        assert abs(dominant_frequency(samples[-24000:]) - 660) < 5


@pytest.mark.parametrize(
    ("endpoint", "event", "rate"),
    [
        # An async handler at 24 kHz in, that says so from start_up.
        ("t-async-echo", "ready", 24000),
        # super().__init__("mono", 24000, 480, 16000): FastRTC's order, whose third is output_frame_size (ignored)
        # and fourth the input rate. Read as (layout, output rate, input rate, fps) the handler would hear 480 Hz.
        ("t-positional-echo", "rate", 16000),
    ],
)
async def test_a_handler_hears_at_its_input_rate_and_its_echo_is_resampled(asgi_app, endpoint, event, rate):
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        heard = await client.wait_for_event(event)
        assert heard["data"] == {"rate": rate}
        audio = await client.wait_for_audio(seconds=1.0)
        assert abs(dominant_frequency(loud_part(audio.samples())[-24000:]) - 440) < 5


async def test_inputs_change_the_handler_mid_stream(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 20, 48000)), inputs=[1.0])
        await client.wait_for_audio(seconds=1.0)
        loud = rms(client.audio.samples()[-9600:])
        await client.set_inputs(0.1)
        mark = client.audio.seconds()
        await client.wait_for_audio(seconds=mark + 1.0)
        quiet = rms(client.audio.samples()[-9600:])
        assert quiet < loud * 0.2, (loud, quiet)


async def test_send_mode_delivers_outputs_in_order_through_the_hook(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-level") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        outputs = await client.wait_for_outputs(5)
        assert [o["seq"] for o in outputs] == [1, 2, 3, 4, 5]
        counts = [o["values"][0]["value"] for o in outputs]
        assert counts == [10, 20, 30, 40, 50]
        assert all(o["values"][0]["label"] == "level" for o in outputs)
        assert client.pc.getTransceivers()[0].direction == "sendonly"


async def test_a_burst_of_outputs_arrives_complete_and_in_order(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-burst") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        outputs = await client.wait_for_outputs(300, timeout=20)
        assert [o["values"][0] for o in outputs] == list(range(1, 301))
        assert outputs[-1]["values"][1] == {"square": 90000}


async def test_trickled_candidates_before_and_after_the_answer(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(500, 10, 48000)), trickle=True)
        await client.wait_for_event("connected")
        audio = await client.wait_for_audio(seconds=0.5)
        assert abs(dominant_frequency(loud_part(audio.samples())[-12000:]) - 500) < 10


async def test_stop_closes_and_reports_the_reason(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(np.zeros(48000, dtype=np.int16)))
        await client.wait_for_event("connected")
        closed = await client.stop()
        assert closed["reason"] == "client_stop"


async def test_the_client_sends_audio_from_a_file(asgi_app, tmp_path):
    import wave

    from rtcstream.client import read_audio_file

    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(tone(750, 5, 16000).tobytes())
    samples = read_audio_file(str(path))
    assert abs(samples.size - 5 * 48000) < 100
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(samples))
        audio = await client.wait_for_audio(seconds=1.0)
        assert abs(dominant_frequency(loud_part(audio.samples())[-24000:]) - 750) < 5


async def test_terminating_from_the_admin_reaches_the_session_through_the_channel_layer(asgi_app):
    from channels.layers import get_channel_layer

    from rtcstream.models import StreamSession
    from rtcstream.signalling.groups import session_group

    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_event("connected")
        session_id = client.session["session"]
        await get_channel_layer().group_send(session_group(session_id), {"type": "rtcstream.terminate"})
        closed = await client.wait_closed()
        assert closed["reason"] == "terminated"
    row = await StreamSession.objects.aget(session_id=session_id)
    assert (row.state, row.end_reason) == ("ended", "terminated")


async def _packets_received(client: RtcClient) -> int:
    assert client.pc is not None
    stats = await client.pc.getStats()
    return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == "audio")


@pytest.mark.parametrize("dtx", [True, False], ids=["dtx", "no-dtx"])
async def test_the_server_sends_opus_it_encoded_itself_and_its_silence_as_dtx(asgi_app, settings, monkeypatch, dtx):
    """aiortc's sender only packetizes (no per-frame audio level in Python, no hop to a thread);
    between replies the settled silence packet is sent again, or with AUDIO_DTX two packets in 400 ms."""
    from rtcstream.media.opus import OpusPacketEncoder

    settings.RTCSTREAM = {**settings.RTCSTREAM, "AUDIO_DTX": dtx}
    frames = {"sound": 0, "silence": 0, "dtx": 0, "encoded": 0}
    original, original_dtx = OpusPacketEncoder.encode, OpusPacketEncoder.dtx_packet

    def counting(self, frame, *, silent=False):
        frames["silence" if silent else "sound"] += 1
        packet = original(self, frame, silent=silent)
        frames["encoded"] = self.frames_encoded
        return packet

    def counting_dtx(self, frame):
        frames["dtx"] += 1
        return original_dtx(self, frame)

    monkeypatch.setattr(OpusPacketEncoder, "encode", counting)
    monkeypatch.setattr(OpusPacketEncoder, "dtx_packet", counting_dtx)
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        await client.start(audio=ArrayAudioTrack(np.zeros(48000 * 10, np.int16)))
        await client.wait_for_event("connected")
        await client.wait_for_audio(seconds=1.0)
        before, started = await _packets_received(client), time.monotonic()
        await client.wait_for_audio(seconds=3.0)
        received = await _packets_received(client) - before
        per_second = received / (time.monotonic() - started)
        assert frames["sound"] == 0 and frames["encoded"] <= 10  # silence is encoded until libopus settles
        if dtx:
            assert frames["dtx"] >= 3
            assert per_second < 10, per_second  # 5 a second: the settled silence and a DTX packet per 400 ms
        else:
            assert frames["dtx"] == 0 and frames["silence"] >= 100
            assert per_second > 40, per_second  # 50 a second
        # The client hears continuous silence, as a browser plays DTX: its wait above ended on time.
        assert rms(client.audio.samples()) < 1
