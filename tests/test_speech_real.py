"""The turn-taking fixtures: enough real speech, segments that tile the audio, silent pauses, voiced speech edges."""

from __future__ import annotations

import numpy as np
import pytest

from . import speech_real
from .speech_real import RATE, Fixture


def check_markings(fixture: Fixture) -> None:
    segments = fixture.segments
    assert segments[0].start == 0 and segments[-1].end == pytest.approx(fixture.seconds, abs=1 / RATE)
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.end == pytest.approx(after.start, abs=1 / RATE) and before.kind != after.kind
    for segment in segments:
        part = fixture.samples[round(segment.start * RATE) : round(segment.end * RATE)]
        if segment.kind == "speech":
            assert speech_real.frame_db(part).max() > -45, fixture.name  # pyannote's quietest turn: -36 dBFS
        else:
            assert not part.any(), fixture.name


def test_real_fixtures_are_marked_and_plentiful():
    fixtures = speech_real.real_fixtures()
    for fixture in fixtures:
        check_markings(fixture)
    complete = [f for f in fixtures if f.group == "complete"]
    hesitations = [f for f in fixtures if f.group == "hesitation"]
    assert len(complete) >= 60 and len(hesitations) >= 40
    assert len({f.speaker for f in complete}) >= 4
    assert {f.source for f in complete} == {"asterisk", "pyannote", "alsa"}
    # A hesitation fixture is its complete recording with a pause inserted: same speech, in the same order.
    by_name = {f.name: f for f in fixtures}
    for fixture in hesitations:
        original = by_name[fixture.name.removesuffix("~cut")]
        speech = np.concatenate(
            [
                fixture.samples[round(s.start * RATE) : round(s.end * RATE)]
                for s in fixture.segments
                if s.kind == "speech"
            ]
        )
        assert abs(len(speech) - original.segments[0].end * RATE) <= 2
    assert sum(f.cut is not None and f.cut.clean for f in hesitations) >= 0.9 * len(hesitations)


def test_fixtures_are_deterministic():
    first, again = speech_real.asterisk_fixtures(limit=3), speech_real.asterisk_fixtures(limit=3)
    assert [f.segments for f in first] == [f.segments for f in again]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(first, again, strict=True))


def test_espeak_fixtures_are_marked():
    fixtures = speech_real.espeak_fixtures()
    for fixture in fixtures:
        check_markings(fixture)
    assert {f.group for f in fixtures} == {"complete", "filler", "and", "list", "cut"}
