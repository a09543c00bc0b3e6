"""G.711 μ-law, the telephone's 8-bit audio (ITU-T G.711; Twilio's ``audio/x-mulaw``).

Encoding and decoding are table look-ups built once: 64 K entries one way, 256
the other. (The standard library's ``audioop`` does the same, but it is
deprecated and gone from Python 3.13.)
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84  # 132: shifts every magnitude so that the segment is the position of its top bit


def _encode_table() -> np.ndarray:
    # As the reference (Sun's g711.c, which audioop follows): on 14 bits, a negative
    # sample rounded towards minus infinity before its sign is taken.
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + (_BIAS >> 2)
    segment = np.floor(np.log2(magnitude)).astype(np.int32) - 5  # 0..8
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


_ENCODE = _encode_table()
_DECODE = _decode_table()
_ENCODE.flags.writeable = False
_DECODE.flags.writeable = False


def ulaw_encode(samples: np.ndarray) -> bytes:
    """Return int16 ``samples`` as μ-law bytes, one per sample."""
    return bytes(_ENCODE[samples.astype(np.int16).reshape(-1).astype(np.int32) + 32768])


def ulaw_decode(data: bytes) -> np.ndarray:
    """Return μ-law ``data`` as int16 samples, one per byte."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]
