"""Whose code is it: the one rule that decides what runs in the pool and which line a warning names."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rtcstream import ReplyOnPause, audio_to_int16
from rtcstream.execution.origin import is_rtcstreams, site_stacklevel
from rtcstream.handlers.reply_on_pause import Turns


async def reply(audio):
    yield audio


class OwnDetector(ReplyOnPause):
    """A site's subclass that builds its own detector: its code, so it runs in the worker pool."""

    def new_detector(self, sample_rate: int) -> Turns:
        return super().new_detector(sample_rate)


class Renamed(ReplyOnPause):
    """A site's subclass that keeps rtcstream's detector: rtcstream's code, which stays on the loop."""


def test_code_is_rtcstreams_by_its_module():
    assert is_rtcstreams(ReplyOnPause.new_detector) and is_rtcstreams(ReplyOnPause)
    assert not is_rtcstreams(OwnDetector.new_detector) and not is_rtcstreams(Renamed)
    assert is_rtcstreams(Renamed.new_detector)  # inherited, not overridden
    assert not is_rtcstreams(np.zeros) and not is_rtcstreams(object())  # another library's; no module at all
    fake = type("Fake", (), {"__module__": "rtcstreamish.handlers"})
    assert not is_rtcstreams(fake)  # a name that only starts like the package's


def test_a_sites_detector_runs_in_the_pool_and_rtcstreams_on_the_loop():
    assert OwnDetector(reply)._detection_in_pool
    assert not Renamed(reply)._detection_in_pool
    assert not ReplyOnPause(reply)._detection_in_pool


def test_a_warning_names_the_sites_line_however_deep_in_rtcstream_it_is_raised():
    def warn_here() -> None:
        warnings.warn("from the site", UserWarning, stacklevel=site_stacklevel())

    with pytest.warns(UserWarning) as seen:
        warn_here()  # no rtcstream frame between: the warning names warn_here's own line
    assert seen[0].filename == __file__ and seen[0].lineno == warn_here.__code__.co_firstlineno + 1
    with pytest.warns(UserWarning, match="deprecated") as seen:
        line = _line() + 1
        audio_to_int16((16000, np.zeros(4, dtype=np.float32)))  # two of rtcstream's frames below this one
    assert (seen[0].filename, seen[0].lineno) == (__file__, line)


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno
