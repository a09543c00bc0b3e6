"""``OpusPacketEncoder``: the server's own Opus packets decode to what was put in, and silence is encoded once."""

from __future__ import annotations

import numpy as np
import pytest
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame

from rtcstream.media.audio import FRAME_SAMPLES, make_frame
from rtcstream.media.opus import OpusPacketEncoder
from tests.handlers import tone
from tests.media_checks import dominant_frequency, rms


def stereo_frames(mono: np.ndarray) -> list[np.ndarray]:
    interleaved = np.repeat(mono.astype(np.int16), 2)
    return [interleaved[i : i + 2 * FRAME_SAMPLES] for i in range(0, interleaved.size, 2 * FRAME_SAMPLES)]


def decode(packets: list) -> np.ndarray:
    """Decode as the browser's side would, packet by packet (aiortc's decoder: libopus)."""
    decoder = OpusDecoder()
    out = []
    for packet in packets:
        for frame in decoder.decode(JitterFrame(data=bytes(packet), timestamp=packet.pts)):
            out.append(frame.to_ndarray().reshape(-1)[::2])  # left channel
    return np.concatenate(out)


def test_packets_decode_to_the_audio_put_in_with_their_timestamps():
    encoder = OpusPacketEncoder()
    frames = stereo_frames(tone(440, 1, 48000))
    packets = [encoder.encode(make_frame(samples, i * FRAME_SAMPLES)) for i, samples in enumerate(frames)]
    assert [p.pts for p in packets] == [i * FRAME_SAMPLES for i in range(len(frames))]
    heard = decode(packets)
    assert heard.size == len(frames) * FRAME_SAMPLES
    assert abs(dominant_frequency(heard[4800:]) - 440) < 5


def test_silence_is_encoded_until_libopus_settles_then_its_packet_is_reused():
    encoder = OpusPacketEncoder()
    silence = np.zeros(2 * FRAME_SAMPLES, np.int16)
    sound = stereo_frames(tone(660, 0.5, 48000))
    packets = [encoder.encode(make_frame(s, i * FRAME_SAMPLES)) for i, s in enumerate(sound)]
    encoded_with_sound = encoder.frames_encoded
    for i in range(len(sound), len(sound) + 100):
        packets.append(encoder.encode(make_frame(silence, i * FRAME_SAMPLES), silent=True))
    settled = encoder.frames_encoded - encoded_with_sound
    assert 2 <= settled <= 10  # the rest of the 100 silent frames cost no encoding
    assert len({bytes(p) for p in packets[-90:]}) == 1
    # Sound after the silence is encoded again, and the stream decodes whole: tone, silence, tone.
    start = len(packets)
    for j, samples in enumerate(sound):
        packets.append(encoder.encode(make_frame(samples, (start + j) * FRAME_SAMPLES)))
    assert encoder.frames_encoded == encoded_with_sound + settled + len(sound)
    heard = decode(packets)
    gap = heard[len(sound) * FRAME_SAMPLES + 4800 : start * FRAME_SAMPLES]
    assert rms(gap) < 1
    assert abs(dominant_frequency(heard[start * FRAME_SAMPLES + 4800 :]) - 660) < 5


def test_a_dtx_packet_is_one_toc_byte_that_decodes_to_20_ms_of_silence():
    encoder = OpusPacketEncoder()
    silence = np.zeros(2 * FRAME_SAMPLES, np.int16)
    packets = [encoder.encode(make_frame(silence, i * FRAME_SAMPLES), silent=True) for i in range(5)]
    assert encoder.settled
    dtx = encoder.dtx_packet(make_frame(silence, 5 * FRAME_SAMPLES))
    assert bytes(dtx) == bytes([bytes(packets[-1])[0] & 0xFC]) and dtx.pts == 5 * FRAME_SAMPLES
    heard = decode([*packets, dtx])
    assert heard.size == 6 * FRAME_SAMPLES and rms(heard) < 1


def test_no_dtx_packet_before_libopus_settles_on_silence():
    encoder = OpusPacketEncoder()
    with pytest.raises(RuntimeError):
        encoder.dtx_packet(make_frame(np.zeros(2 * FRAME_SAMPLES, np.int16), 0))
