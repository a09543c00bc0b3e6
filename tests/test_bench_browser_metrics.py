"""The browser bench's figures from a synthetic recording whose answers are known.

A page recording is built by hand: the microphone hears the fixture from a
known wall time on an audio clock that runs 2% slow, the reply plays the
echo of each sentence at chosen times, the server's events and releases are
placed around them. ``metrics.analyse`` must find the file's position, the
latencies, the barge-in and the clip that were put in.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.browser import metrics

STEP = metrics.STEP
ORIGIN = 1_800_000_000.0  # wall time of the fixture's first sample
SLOW = 0.98  # the audio clock's rate against the wall clock


def _voice(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A speech-like level pattern (dBFS per 10 ms): syllables of 100-250 ms that rise and fall."""
    levels: list[float] = []
    while len(levels) < round(seconds / STEP):
        steps = int(rng.integers(10, 26))
        peak = rng.uniform(-22, -10)
        shape = np.sin(np.linspace(0.15, np.pi - 0.15, steps))
        levels += list(-44 + (peak + 44) * shape)
    return np.array(levels[: round(seconds / STEP)])


def _fixture(rng: np.random.Generator) -> tuple[dict, np.ndarray, list[np.ndarray]]:
    """Three sentences: 2 s lead, 1.5 s voice, 3 s pause, 1.2 s voice, 1 s pause, 1.4 s voice, 5 s pause."""
    plan = [(1.5, 3.0), (1.2, 1.0), (1.4, 5.0)]
    db, voices, segments, t = [np.full(200, -100.0)], [], [], 2.0
    for index, (length, pause) in enumerate(plan):
        voice = _voice(length, rng)
        voices.append(voice)
        db += [voice, np.full(round(pause / STEP), -100.0)]
        segments.append(
            {
                "index": index,
                "text": "",
                "kind": "pause",
                "start": t,
                "end": t + length,
                "pause_after": pause,
                "hesitation": None,
            }
        )
        t += length + pause
    return {"segments": segments, "duration": t}, np.concatenate(db), voices


def _context_time(wall: float) -> float:
    return (wall - ORIGIN + 1.0) * SLOW


def _recording(
    timeline: dict, fixture_db: np.ndarray, voices: list[np.ndarray], *, answer_hesitation: bool = False
) -> tuple[dict, dict]:
    """The page's recording, and the answers that were put in it. ``answer_hesitation``: the server
    took sentence 2's hesitation for its end, and the reply to its first words plays while it goes on."""
    wall = ORIGIN - 1.0 + np.arange(0, timeline["duration"] + 1.0, 512 / 48000)
    context = np.array([_context_time(t) for t in wall])
    # getOutputTimestamp pairs: what the output plays at wall time w is context time c(w).
    clock = [[_context_time(t), t * 1000] for t in np.arange(ORIGIN - 1.0, ORIGIN + timeline["duration"] + 1.0, 0.25)]
    file_db = np.interp(wall - ORIGIN, np.arange(len(fixture_db)) * STEP, fixture_db, left=-100, right=-100)
    local = [[c, 10 ** (d / 20)] for c, d in zip(context, file_db, strict=True)]

    seg = timeline["segments"]
    latency = [0.8, 0.6, 0.7]  # end of speech -> audible, per sentence
    onsets = [ORIGIN + s["end"] + lat for s, lat in zip(seg, latency, strict=True)]
    reply_db = np.full(wall.size, -100.0)
    # Reply 0 plays whole; reply 1 is talked over by sentence 2 and stops 0.2 s after it starts;
    # reply 2 plays whole, with its first 150 ms missing (clipped).
    stop_1 = ORIGIN + seg[2]["start"] + 0.2
    for index, onset in enumerate(onsets):
        voice = voices[index][15:] if index == 2 else voices[index]
        times = onset + np.arange(voice.size) * STEP
        if index == 1:
            onset_1_end = ORIGIN + seg[2]["start"] + 0.2
            voice, times = voice[times < onset_1_end], times[times < onset_1_end]
        reply_db = np.maximum(reply_db, np.interp(wall, times, voice, left=-100, right=-100))
    extra_onsets = []
    if answer_hesitation:
        detected = ORIGIN + seg[2]["hesitation"][0] + 0.3
        extra_onsets.append(detected + 0.2)
        times = extra_onsets[0] + np.arange(70) * STEP
        reply_db = np.maximum(reply_db, np.interp(wall, times, voices[2][:70], left=-100, right=-100))
    remote = [[c, 10 ** (d / 20)] for c, d in zip(context, reply_db, strict=True)]

    events = []
    for s in seg:
        events += [
            [1000 * (ORIGIN + s["end"] + 0.45), "pause_detected", "{}"],
            [1000 * (ORIGIN + s["end"] + 0.46), "response_starting", "{}"],
        ]
    events.append([1000 * (ORIGIN + seg[2]["start"] + 0.1), "started_talking", "{}"])
    if answer_hesitation:
        events += [[1000 * (detected), "pause_detected", "{}"], [1000 * (detected + 0.01), "response_starting", "{}"]]
    events.sort()
    releases = [float(t) for onset in onsets + extra_onsets for t in np.arange(onset - 0.3, onset + 0.5, 0.02)]
    page = {
        "local": local,
        "remote": remote,
        "clock": clock,
        "latency": {"base": 0.0, "output": 0.0},
        "events": events,
        "stats": [],
        "releases": releases,
        "replies": [[ORIGIN + s["end"] + 0.46, 0.2] for s in seg],
        "cpu": {"server_pct_core": 1.0, "browser_pct_core": 2.0, "browser_processes": 1},
    }
    return page, {"latency": latency, "barge_in": stop_1 - (ORIGIN + seg[2]["start"])}


def test_analyse_finds_the_latencies_barge_in_and_clip_put_in_a_recording() -> None:
    rng = np.random.default_rng(8)
    timeline, fixture_db, voices = _fixture(rng)
    page, truth = _recording(timeline, fixture_db, voices)

    session = metrics.analyse(timeline, fixture_db, page)

    assert session.alignment > 0.9
    found = [item.latency for item in session.items]
    assert found == pytest.approx(truth["latency"], abs=0.03)
    assert [item.reply_start_latency for item in session.items] == pytest.approx(
        [lat - 0.2 for lat in truth["latency"]], abs=0.03
    )
    assert [item.barge_in is not None for item in session.items] == [False, False, True]
    assert session.items[2].barge_in["stop_latency"] == pytest.approx(truth["barge_in"], abs=0.03)
    assert session.items[2].clip_start == pytest.approx(0.15, abs=0.03)
    assert session.items[0].clip_start == pytest.approx(0.0, abs=0.025)
    summary = metrics.summarise(session)
    assert summary["missed_long"] == 0
    assert summary["barge_in"]["within_300ms"] == 1


def test_the_reply_to_a_hesitating_sentences_first_words_is_not_taken_for_the_talked_over_reply() -> None:
    """Sentence 2 talks over reply 1, which stops 0.2 s in; then a turn ends in sentence 2's hesitation
    and the reply to its first words plays while it goes on. That reply is sentence 2's own: barge-in
    is still 0.2 s, not the end of that reply."""
    rng = np.random.default_rng(8)
    timeline, fixture_db, voices = _fixture(rng)
    sentence = timeline["segments"][2]
    sentence["kind"], sentence["hesitation"] = "hesitation", [sentence["start"] + 0.7, sentence["start"] + 0.9]
    page, truth = _recording(timeline, fixture_db, voices, answer_hesitation=True)

    session = metrics.analyse(timeline, fixture_db, page)

    item = session.items[2]
    assert item.false_turn and item.own_reply_onset is not None
    assert item.barge_in["stop_latency"] == pytest.approx(truth["barge_in"], abs=0.03)
    assert metrics.summarise(session)["barge_in"]["within_300ms"] == 1
