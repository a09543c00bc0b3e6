"""G.711 μ-law and the websocket's audio formats."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rtcstream.media.g711 import ulaw_decode, ulaw_encode
from rtcstream.transports.formats import BROWSER_FORMATS, MULAW_8K, AudioFormat


def test_known_codes():
    # Silence is 0xFF, full scale 0x80 and 0x00 (G.711's table, as the telephone network has it).
    assert ulaw_encode(np.array([0, -1, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x7E, 0x80, 0x00])
    assert ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 32124, -32124]


def test_every_sample_encodes_as_the_standard_library_did():
    audioop = pytest.importorskip("audioop")  # gone from Python 3.13; the reference where it exists
    samples = np.arange(-32768, 32768, dtype=np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert ulaw_encode(samples) == audioop.lin2ulaw(samples.tobytes(), 2)
        assert ulaw_decode(bytes(range(256))).tobytes() == audioop.ulaw2lin(bytes(range(256)), 2)


def test_a_round_trip_keeps_speech_within_the_codec_error():
    t = np.arange(8000) / 8000
    signal = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    back = ulaw_decode(ulaw_encode(signal)).astype(np.float64)
    snr = 10 * np.log10(np.mean(signal.astype(np.float64) ** 2) / np.mean((back - signal) ** 2))
    assert snr > 35  # μ-law's ~38 dB


@pytest.mark.parametrize("audio_format", BROWSER_FORMATS, ids=str)
def test_a_frame_is_20_ms_and_survives_the_wire(audio_format: AudioFormat):
    samples = (np.random.default_rng(1).standard_normal(audio_format.frame_samples) * 3000).astype(np.int16)
    data = audio_format.encode(samples)
    assert (
        len(data) == audio_format.frame_bytes == audio_format.rate // 50 * (2 if audio_format.codec == "pcm16" else 1)
    )
    back = audio_format.decode(data)
    assert back.dtype == np.int16 and back.size == audio_format.frame_samples
    if audio_format.codec == "pcm16":
        assert np.array_equal(back, samples)
        assert data[:2] == int(samples[0]).to_bytes(2, "little", signed=True)
    else:
        assert audio_format == MULAW_8K
