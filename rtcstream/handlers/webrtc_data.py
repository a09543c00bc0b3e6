"""``WebRTCData``: the stream's own value on an endpoint that takes typed text (FastRTC's textbox variant)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class WebRTCData:
    """What a handler of an entry with ``"text": True`` gets in place of the audio.

    ``textbox`` is the text the page submitted ("" on a voice turn); ``audio`` is
    ``(sample_rate, int16 array (1, n))``: the utterance on a voice turn, and on a
    text turn the speech heard so far (``n`` is 0 when there was none), as in
    FastRTC. ``webrtc_id`` is the session's id. A stream handler reads it as
    ``self.latest_args[0]``, with ``audio`` None.
    """

    webrtc_id: str = ""
    textbox: str = ""
    audio: Any = None
