"""Turn-taking figures from what one browser session recorded, on the wall clock.

Inputs (all times in seconds since the epoch):

- the fixture's timeline (``fixture.json``) and level envelope;
- the page's recordings (``instrument.js``): the microphone's and the reply's
  levels every 10 ms, getStats rows, the server's turn events as the page got
  them;
- the server's release log (``serverside.log_releases``): when it handed
  loud reply frames to aiortc.

The page's levels are on the audio context's clock; getOutputTimestamp pairs
put them on the wall clock: a reply level at the time the output plays it, a
microphone level at the time the page got it (the output latency earlier). The
microphone envelope places the file on the clock (cross-correlation with
the fixture's envelope, 10 ms steps); everything else follows from there.
Definitions are in ``analyse``'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import correlate

STEP = 0.01  # seconds per envelope step
AUDIBLE_DB = -40.0  # reply audio above this RMS (dBFS, 10 ms) is audible
SPEECH_DB = -45.0  # the fixture's voiced threshold, for the microphone envelope
ONSET_GAP = 0.15  # an audible run after this much quiet is a new onset
REPLY_GAP = 0.45  # a reply's own pauses (hesitations, 0.3 s sentence gaps) are shorter than this
BARGE_IN_OK = 0.3  # talked-over replies should stop within this
CLIP_TEMPLATE_S = 0.25  # the start clip compares this much of the reply heard with the utterance
CLIP_TIE = 0.03  # correlations this close to the best count as ties (the smallest clip wins)
CLIP_MAX_S = 0.8  # the largest clip looked for


@dataclass
class Envelope:
    """A level series on a regular 10 ms grid: ``db[k]`` is the level at ``start + k * STEP``."""

    start: float
    db: np.ndarray

    @classmethod
    def from_samples(cls, samples: list[list[float]], clock: np.ndarray, shift: float = 0.0) -> Envelope:
        """Resample the page's ``[context time, rms]`` pairs onto the grid, on the wall clock (``wall_times``)."""
        if len(samples) < 2:
            return cls(0.0, np.full(1, -100.0))
        times = wall_times(np.array([s[0] for s in samples]), clock) - shift
        levels = 20 * np.log10(np.maximum(np.array([s[1] for s in samples]), 1e-5))
        grid = np.arange(times[0], times[-1], STEP)
        return cls(float(times[0]), np.interp(grid, times, levels))

    def time(self, index: int) -> float:
        return self.start + index * STEP

    def index(self, t: float) -> int:
        return int(np.clip(round((t - self.start) / STEP), 0, len(self.db)))

    def loud(self, lo: float, hi: float, threshold: float = AUDIBLE_DB) -> np.ndarray:
        """Times in [lo, hi) when the level is above ``threshold``."""
        a, b = self.index(lo), self.index(hi)
        return np.array([self.time(a + k) for k in np.flatnonzero(self.db[a:b] > threshold)])


def wall_times(context_times: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """Map audio-context times to the wall time the output plays them, from getOutputTimestamp pairs.

    The offset between the two clocks is interpolated between pairs (taken
    every 250 ms), not assumed constant: on a loaded machine the audio
    thread falls behind and the context's clock runs slow.
    """
    offsets = clock[:, 1] / 1000 - clock[:, 0]
    return context_times + np.interp(context_times, clock[:, 0], offsets)


def _zscore(x: np.ndarray) -> np.ndarray:
    clipped = np.clip(x, -60, 0)
    spread = clipped.std()
    return (clipped - clipped.mean()) / (spread if spread > 0 else 1.0)


def align(microphone: Envelope, fixture_db: np.ndarray) -> tuple[float, float]:
    """Return (wall time of the fixture's first sample, normalised correlation at the best lag).

    The file starts playing when getUserMedia opens the fake device, just
    before the page's analyser attaches: lags that put the recording's start
    between 1 s before the file and 10 s into it are searched.
    """
    sig, ref = _zscore(microphone.db), _zscore(fixture_db)
    corr = correlate(sig, ref, mode="full", method="fft")
    lags = np.arange(-(len(ref) - 1), len(sig))
    allowed = (lags >= -round(10 / STEP)) & (lags <= round(1 / STEP))
    best = int(np.argmax(np.where(allowed, corr, -np.inf)))
    overlap = min(len(sig), len(ref))
    return microphone.start + lags[best] * STEP, float(corr[best] / overlap)


def onsets(reply: Envelope, threshold: float = AUDIBLE_DB) -> list[float]:
    """Times where the reply becomes audible after at least ``ONSET_GAP`` of quiet and stays mostly audible.

    An onset needs 30 ms of the 100 ms after it audible, so a click or a
    concealment blip before the voice is not taken for it.
    """
    loud = reply.db > threshold
    found: list[float] = []
    last_loud = -math.inf
    for k in np.flatnonzero(loud):
        t = reply.time(int(k))
        if t - last_loud > ONSET_GAP:
            if loud[k : k + 10].sum() < 3:
                continue  # a blip: still quiet
            found.append(t)
        last_loud = t
    return found


def start_clip(reply: Envelope, onset: float, limit: float, fixture_db: np.ndarray, utt_start: float) -> float | None:
    """How much of the utterance's start is missing from the reply heard.

    The first ``CLIP_TEMPLATE_S`` heard from the audible onset is compared
    with the fixture's envelope of the utterance from ``utt_start + c``, for
    c from -50 ms to ``CLIP_MAX_S`` (Pearson correlation of the dB levels, so
    gain does not matter); the clip is the smallest c whose correlation is
    within ``CLIP_TIE`` of the best (speech is quasi-periodic: a later
    syllable can match almost as well). The window is short because a
    stuttering playout (concealment) decorrelates what follows; ``limit``
    (the next sentence) must not fall inside it.
    """
    n = round(CLIP_TEMPLATE_S / STEP)
    a = reply.index(onset)
    if reply.time(a + n) > limit or a + n > len(reply.db):
        return None
    heard = np.clip(reply.db[a : a + n], -60, 0)
    if heard.std() == 0:
        return None
    first = round(utt_start / STEP)
    scores: list[tuple[float, float]] = []
    for c in range(-5, round(CLIP_MAX_S / STEP) + 1):
        spoken = np.clip(fixture_db[max(0, first + c) : first + c + n], -60, 0)
        if len(spoken) == n and spoken.std() > 0:
            scores.append((c * STEP, float(np.corrcoef(heard, spoken)[0, 1])))
    if not scores:
        return None
    best = max(r for _c, r in scores)
    return next(c for c, r in scores if r >= best - CLIP_TIE)


def server_stop(releases: list[float], start: float) -> float:
    """How long after ``start`` the server went on releasing the reply it was sending then (0 if none was).

    The reply's release is followed while its loud frames come less than
    ``REPLY_GAP`` apart; 0 when no loud frame was released in the 100 ms after
    ``start``.
    """
    later = [t for t in releases if t >= start]
    if not later or later[0] - start > 0.1:
        return 0.0
    end = later[0]
    for t in later[1:]:
        if t - end > REPLY_GAP:
            break
        end = t
    return end + 0.02 - start


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def median(values: list[float]) -> float | None:
    return percentile(values, 50)


@dataclass
class Item:
    """One fixture sentence as this session heard and answered it (wall-clock seconds)."""

    index: int
    kind: str
    pause: float
    start: float
    end: float
    hesitation: tuple[float, float] | None
    utterance_start: float  # where the utterance the server should echo starts (file seconds)
    pause_detected: float | None = None
    response_starting: float | None = None
    released: float | None = None  # the server's first loud reply frame
    onset: float | None = None  # the reply becomes audible in the page
    false_turn: bool = False
    own_reply_onset: float | None = None  # a turn ended inside this sentence: the reply to its first words is heard
    cut_in_speech: bool = False  # a turn ended while this sentence was spoken, outside its hesitation
    talked_over: bool = False  # the next sentence starts before this reply would end
    cut: bool = False  # no reply heard: the user's next speech interrupted it before it was audible
    leading_silence: float | None = None  # silence before the voice in what the echo plays back
    clip_start: float | None = None
    barge_in: dict[str, Any] | None = None  # when this sentence talks over a playing reply

    @property
    def latency(self) -> float | None:
        return None if self.onset is None else self.onset - self.end

    @property
    def reply_start_latency(self) -> float | None:
        """End of speech -> the reply's first sample plays: the audible onset less the echo's leading silence."""
        if self.latency is None or self.leading_silence is None:
            return None
        return self.latency - self.leading_silence


@dataclass
class Session:
    items: list[Item]
    alignment: float
    output_latency: float
    events: dict[str, int]
    stats: dict[str, Any]
    cpu: dict[str, float]
    errors: list[str] = field(default_factory=list)
    model_decided: int = 0  # pause_detected events that say the turn model ended the turn
    model_calls: dict[str, Any] = field(default_factory=dict)  # the turn model's calls and their CPU


def _first(times: list[float], lo: float, hi: float) -> float | None:
    return next((t for t in times if lo < t < hi), None)


def analyse(timeline: dict[str, Any], fixture_db: np.ndarray, page: dict[str, Any]) -> Session:
    """Measure one session. Per sentence i (end of speech e, next sentence from s' to e'):

    - pause_detected / response_starting: the first such event the page got in
      (e, min(s' + 0.6, e')) (a detection can come a little after the next
      sentence starts; one inside the next sentence's hesitation cannot);
    - cut: no reply was heard, and the user's next speech (``started_talking``)
      came within 3 s of the pause: the reply was interrupted before it was
      audible; missed: no reply heard and not cut;
    - onset (audible reply): the first reply onset (audible after 150 ms of
      quiet) from response_starting (or pause_detected) on, within 3 s and
      before e' + 0.5; latency = onset - e;
    - released: the server's first loud reply frame from response_starting on;
      release -> ear = onset - released;
    - false turn: a pause_detected inside a sentence (after its hesitation began):
      a reply started inside a hesitation;
    - cut in speech: a pause_detected inside a sentence, from 0.6 s after its
      start (an earlier one can be the previous turn's, late) and outside its
      hesitation;
    - start clip (envelope match, ``start_clip``), for replies heard for
      ``CLIP_TEMPLATE_S`` before the next sentence;
    - barge-in, for a sentence starting while a reply plays that would go on
      for 300 ms more: stop = the last audible reply instant before this
      sentence's own reply onset (or, when a turn ended inside it, in its
      hesitation or not, before the reply to its first words:
      ``own_reply_onset``, but never before 0.4 s); latency = stop - sentence start; the server's stop is
      where its release of that reply ends (``server_stop``).
    """
    releases: list[float] = page["releases"]
    replies: list[list[float]] = page.get("replies", [])
    clock = np.array(page["clock"], dtype=float)
    output_latency = (page["latency"]["base"] or 0) + (page["latency"]["output"] or 0)
    # The reply when the output plays it; the microphone when the page got it (the output latency earlier).
    microphone = Envelope.from_samples(page["local"], clock, shift=output_latency)
    reply = Envelope.from_samples(page["remote"], clock)
    origin, quality = align(microphone, fixture_db)
    events = [(t / 1000, name) for t, name, _detail in page["events"]]
    by_name: dict[str, list[float]] = {}
    for t, name in events:
        by_name.setdefault(name, []).append(t)
    detected = by_name.get("pause_detected", [])
    starting = by_name.get("response_starting", [])
    reply_onsets = onsets(reply)
    segments = timeline["segments"]
    record_end = reply.time(len(reply.db) - 1)

    items: list[Item] = []
    utterance_start = segments[0]["start"]
    for i, seg in enumerate(segments):
        hes = tuple(seg["hesitation"]) if seg["hesitation"] else None
        start, end = origin + seg["start"], origin + seg["end"]
        item = Item(i, seg["kind"], seg["pause_after"], start, end, hes, utterance_start)  # type: ignore[arg-type]
        if hes is not None and _first(detected, origin + hes[0], end):
            item.false_turn = True
            item.utterance_start = hes[1]
        inside = [t for t in detected if start + 0.6 < t < end]
        item.cut_in_speech = any(hes is None or not origin + hes[0] <= t <= end for t in inside)
        if inside:
            item.own_reply_onset = _first(reply_onsets, inside[0] - 0.05, inside[0] + 3.0)
        nxt = segments[i + 1] if i + 1 < len(segments) else None
        next_start = origin + nxt["start"] if nxt else end + seg["pause_after"]
        next_end = origin + nxt["end"] if nxt else min(end + seg["pause_after"] + 1.0, record_end)
        item.pause_detected = _first(detected, end, min(next_start + 0.6, next_end))
        if item.pause_detected is not None:
            item.response_starting = _first(starting, item.pause_detected - 0.001, min(next_start + 1.5, next_end))
            anchor = item.response_starting or item.pause_detected
            item.onset = _first(reply_onsets, anchor - 0.05, min(anchor + 3.0, next_end + 0.5))
            item.released = _first(releases, anchor - 0.05, (item.onset or anchor + 3.0) + 0.05)
            if item.onset is None:
                item.cut = _first(by_name.get("started_talking", []), item.pause_detected, anchor + 3.0) is not None
            called = [lead for t, lead in replies if item.pause_detected - 1.0 < t < (item.onset or anchor)]
            item.leading_silence = called[-1] if called else None
        expected = seg["end"] - item.utterance_start
        if item.onset is not None:
            item.talked_over = next_start < item.onset + expected + 0.3
            if next_start - item.onset >= CLIP_TEMPLATE_S:
                item.clip_start = start_clip(reply, item.onset, next_start, fixture_db, item.utterance_start)
        items.append(item)
        if item.pause_detected is not None:
            utterance_start = nxt["start"] if nxt else 0.0

    for j in range(1, len(items)):
        item = items[j]
        playing = [k for k in items[:j] if k.onset is not None and k.onset <= item.start]
        if not playing:
            continue
        previous = playing[-1]
        expected = segments[previous.index]["end"] - previous.utterance_start
        natural_end = previous.onset + expected  # type: ignore[operator]
        if natural_end <= item.start + BARGE_IN_OK or not len(reply.loud(item.start - 0.3, item.start + 0.05)):
            continue
        # Sound heard after the next reply began is not the old one's: up to that reply's onset, or,
        # when it was cut before it was found audible, up to the server releasing its first loud frame;
        # and, when a turn ended inside this sentence (its hesitation, or a cut), up to the reply to its
        # first words (that reply is this sentence's, heard while it goes on, not the talked-over one).
        if item.onset is not None:
            limit = item.onset - 0.05
        elif item.released is not None:
            limit = item.released
        else:
            limit = natural_end + 0.5
        # (Never before 300 ms and a little: a reply that never stopped is not counted as stopped in time.)
        if item.own_reply_onset is not None:
            limit = min(limit, max(item.own_reply_onset - 0.05, item.start + BARGE_IN_OK + 0.1))
        heard = reply.loud(item.start, max(limit, item.start))
        stop = float(heard[-1]) + STEP if len(heard) else item.start
        talking = _first(by_name.get("started_talking", []), item.start - 0.2, item.start + 3.0)
        item.barge_in = {
            "stop_latency": max(0.0, stop - item.start),
            "server_stop": server_stop(releases, item.start),
            "server_onset": None if talking is None else talking - item.start,
            "reply_of": previous.index,
        }

    final = page["stats"][-1] if page["stats"] else {}
    return Session(
        items=items,
        alignment=quality,
        output_latency=output_latency,
        events={name: len(times) for name, times in by_name.items()},
        stats=summarise_stats(page["stats"], final),
        cpu=page["cpu"],
        errors=[f"{name}" for _t, name in events if name.startswith("rtcstream:error")],
        model_decided=sum(
            1 for _t, name, detail in page["events"] if name == "pause_detected" and "complete" in detail
        ),
    )


def summarise_stats(rows: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
    """Chromium's inbound audio figures over the session: jitter buffer, concealment, time stretching."""
    if not final:
        return {}
    emitted = final.get("jitterBufferEmittedCount") or 0
    received = final.get("totalSamplesReceived") or 0
    intervals = []
    for a, b in zip(rows, rows[1:], strict=False):
        count = (b.get("jitterBufferEmittedCount") or 0) - (a.get("jitterBufferEmittedCount") or 0)
        if count > 0:
            intervals.append(((b.get("jitterBufferDelay") or 0) - (a.get("jitterBufferDelay") or 0)) / count)
    return {
        "jitter_buffer_ms_mean": 1000 * (final.get("jitterBufferDelay") or 0) / emitted if emitted else None,
        "jitter_buffer_ms_p95": 1000 * percentile(intervals, 95) if intervals else None,
        "target_delay_ms_mean": 1000 * (final.get("jitterBufferTargetDelay") or 0) / emitted if emitted else None,
        "concealed_pct": 100 * (final.get("concealedSamples") or 0) / received if received else None,
        "concealment_events": final.get("concealmentEvents"),
        "inserted_s": (final.get("insertedSamplesForDeceleration") or 0) / 48000,
        "removed_s": (final.get("removedSamplesForAcceleration") or 0) / 48000,
        "packets_received": final.get("packetsReceived"),
        "packets_lost": final.get("packetsLost"),
        "packets_sent_per_s": _rate(rows, "packetsSent"),
    }


def _rate(rows: list[dict[str, Any]], key: str) -> float | None:
    """How fast the counter ``key`` grew per second between the first and last rows that have it."""
    have = [row for row in rows if row.get(key) is not None]
    if len(have) < 2 or have[-1]["t"] <= have[0]["t"]:
        return None
    return 1000 * (have[-1][key] - have[0][key]) / (have[-1]["t"] - have[0]["t"])


def summarise(session: Session) -> dict[str, Any]:
    """The figures printed for one session."""
    items = session.items
    long_pause = [i for i in items if i.pause >= 1.0]
    latencies = {p: [i.latency for i in items if i.pause == p and i.latency is not None] for p in (1.0, 2.0, 3.0, 5.0)}
    all_long = [i.latency for i in long_pause if i.latency is not None]
    starts = [i.reply_start_latency for i in long_pause if i.reply_start_latency is not None]
    leading = [i.leading_silence for i in items if i.leading_silence is not None]
    detection = [i.pause_detected - i.end for i in long_pause if i.pause_detected is not None]
    to_ear = [i.onset - i.released for i in items if i.onset is not None and i.released is not None]
    handler_to_ear = [
        i.onset - i.response_starting for i in items if i.onset is not None and i.response_starting is not None
    ]
    barge = [i.barge_in for i in items if i.barge_in is not None]
    stops = [b["stop_latency"] for b in barge]
    hes = [i for i in items if i.hesitation is not None]
    short = {p: [i for i in items if i.pause == p] for p in (0.3, 0.6)}
    clips = [i.clip_start for i in items if i.clip_start is not None]
    return {
        "alignment": session.alignment,
        "output_latency": session.output_latency,
        "latency_by_pause": {
            p: {"n": len(v), "median": median(v), "p95": percentile(v, 95)} for p, v in latencies.items()
        },
        "latency_long": {"n": len(all_long), "median": median(all_long), "p95": percentile(all_long, 95)},
        "reply_start_long": {"n": len(starts), "median": median(starts), "p95": percentile(starts, 95)},
        "leading_silence_median": median(leading),
        "detection_median": median(detection),
        "release_to_ear": {"n": len(to_ear), "median": median(to_ear), "p95": percentile(to_ear, 95)},
        "response_starting_to_ear_median": median(handler_to_ear),
        "missed_long": sum(1 for i in long_pause if i.onset is None and not i.cut),
        "cut_long": sum(1 for i in long_pause if i.cut),
        "long_n": len(long_pause),
        "dead_replies": sum(1 for i in items if i.response_starting is not None and i.onset is None and not i.cut),
        "false_turns_hesitation": sum(1 for i in hes if i.false_turn),
        "hesitation_n": len(hes),
        "cut_in_speech": sum(1 for i in items if i.cut_in_speech),
        "model_decided": session.model_decided,
        "model_calls": session.model_calls,
        "turns_at_short_pause": {
            p: (sum(1 for i in v if i.pause_detected is not None), len(v)) for p, v in short.items()
        },
        "barge_in": {
            "n": len(stops),
            "median": median(stops),
            "p95": percentile(stops, 95),
            "within_300ms": sum(1 for s in stops if s <= BARGE_IN_OK),
            "server_onset_median": median([b["server_onset"] for b in barge if b["server_onset"] is not None]),
            "server_stop_median": median([b["server_stop"] for b in barge]),
        },
        "clip_start": {"n": len(clips), "median": median(clips), "p95": percentile(clips, 95)},
        "stats": session.stats,
        "cpu": session.cpu,
        "events": session.events,
    }
