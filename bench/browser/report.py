"""Markdown tables of a browser bench run, for docs/performance.md.

Run: ``python bench/browser/report.py .bench/results/<time>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def pair(v: dict[str, Any]) -> str:
    return f"{ms(v['median'])} / {ms(v['p95'])}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or b is None else f"{b / a:.2f}x"


ROWS: list[tuple[str, Any]] = [
    ("end of speech -> reply voice audible, pauses >= 1 s (ms, median / p95)", lambda s: pair(s["latency_long"])),
    ("same, less the echo's leading silence: -> the reply's first sample (ms)", lambda s: pair(s["reply_start_long"])),
    ("  the echo's leading silence (ms, median)", lambda s: ms(s["leading_silence_median"])),
    *[
        (
            f"  after a {float(p):g} s pause (ms, median / p95, n)",
            lambda s, p=p: f"{pair(s['latency_by_pause'][p])}, {s['latency_by_pause'][p]['n']}",
        )
        for p in ("1.0", "2.0", "3.0", "5.0")
    ],
    ("end of speech -> `pause_detected` in the page (ms, median)", lambda s: ms(s["detection_median"])),
    ("server releases the first loud reply frame -> audible (ms, median / p95)", lambda s: pair(s["release_to_ear"])),
    ("replies missed after >= 1 s of silence", lambda s: f"{s['missed_long']} of {s['long_n']}"),
    ("  cut: interrupted by the next sentence before heard", lambda s: str(s.get("cut_long", "-"))),
    ("replies started, not interrupted, never heard", lambda s: str(s["dead_replies"])),
    ("false turns in a 0.2-0.4 s hesitation", lambda s: f"{s['false_turns_hesitation']} of {s['hesitation_n']}"),
    (
        "turns taken at a 0.3 s / 0.6 s pause between sentences",
        lambda s: " / ".join(f"{a} of {b}" for a, b in s["turns_at_short_pause"].values()),
    ),
    (
        "talked-over replies stopped within 300 ms",
        lambda s: f"{s['barge_in']['within_300ms']} of {s['barge_in']['n']}",
    ),
    ("barge-in: new speech -> reply silent in the page (ms, median / p95)", lambda s: pair(s["barge_in"])),
    ("  new speech -> `started_talking` in the page (ms, median)", lambda s: ms(s["barge_in"]["server_onset_median"])),
    ("  new speech -> server's last loud reply frame (ms, median)", lambda s: ms(s["barge_in"]["server_stop_median"])),
    ("reply start clipped (ms, median / p95, n)", lambda s: f"{pair(s['clip_start'])}, {s['clip_start']['n']}"),
    ("the browser's jitter buffer delay, mean (ms)", lambda s: f"{s['stats'].get('jitter_buffer_ms_mean') or 0:.0f}"),
    (
        "the browser's jitter buffer target delay, mean (ms)",
        lambda s: f"{s['stats'].get('target_delay_ms_mean') or 0:.0f}",
    ),
    ("concealed samples (% of received)", lambda s: f"{s['stats'].get('concealed_pct') or 0:.1f}"),
    (
        "time-stretched: decelerated + / accelerated - (s)",
        lambda s: f"+{s['stats'].get('inserted_s', 0):.2f} / -{s['stats'].get('removed_s', 0):.2f}",
    ),
    ("packets received / lost", lambda s: f"{s['stats'].get('packets_received')} / {s['stats'].get('packets_lost')}"),
    ("server process CPU (% of a core)", lambda s: f"{s['cpu']['server_pct_core']:.1f}"),
    ("browser CPU, all its processes (% of a core)", lambda s: f"{s['cpu']['browser_pct_core']:.1f}"),
    (
        "PulseAudio CPU, Firefox's audio devices (% of a core)",
        lambda s: f"{s['cpu']['pulseaudio_pct_core']:.1f}" if "pulseaudio_pct_core" in s["cpu"] else "-",
    ),
    ("machine load average (5 min) after the round", lambda s: f"{s.get('load_average', 0):.1f}"),
]


def model_cost(s: dict[str, Any]) -> str:
    calls = s.get("model_calls") or {}
    if not calls.get("n"):
        return "-"
    return f"{calls['n']}, {ms(calls['cpu_median'])}, {calls['pct_core']:.2f}"


def share(count: int, total: int) -> str:
    return f"{count} of {total}" + (f" ({100 * count / total:.0f} %)" if total else "")


# Issue 22's targets, one row each, for the turn-taking rounds (all four systems on the same audio).
TURN_ROWS: list[tuple[str, Any]] = [
    (
        "end of a finished turn -> reply voice audible (ms, median / p95; target <= 500 median)",
        lambda s: pair(s["latency_long"]),
    ),
    (
        "  less the echo's leading silence: -> the reply's first sample (ms, median / p95)",
        lambda s: pair(s["reply_start_long"]),
    ),
    ("  end of speech -> `pause_detected` in the page (ms, median)", lambda s: ms(s["detection_median"])),
    (
        "replies started inside a hesitation (target <= 5 %)",
        lambda s: share(s["false_turns_hesitation"], s["hesitation_n"]),
    ),
    (
        "turns ended inside speech, outside a hesitation (sentences)",
        lambda s: share(s.get("cut_in_speech", 0), s["long_n"]),
    ),
    ("replies missed after >= 1 s of silence (target 0)", lambda s: f"{s['missed_long']} of {s['long_n']}"),
    ("  cut: interrupted by the next sentence before heard", lambda s: str(s.get("cut_long", "-"))),
    (
        "talked-over replies stopped within 300 ms (target >= 90 %)",
        lambda s: share(s["barge_in"]["within_300ms"], s["barge_in"]["n"]),
    ),
    ("  barge-in stop latency (ms, median / p95)", lambda s: pair(s["barge_in"])),
    (
        "turns the turn model ended (rtcstream's `pause_detected` with `complete`)",
        lambda s: str(s.get("model_decided", "-")),
    ),
    (
        "server process CPU, one voice session (% of a core; target <= 12)",
        lambda s: f"{s['cpu']['server_pct_core']:.1f}",
    ),
    ("Chromium jitter buffer delay, mean (ms)", lambda s: f"{s['stats'].get('jitter_buffer_ms_mean') or 0:.0f}"),
    ("machine load average (5 min) after the round", lambda s: f"{s.get('load_average', 0):.1f}"),
]


def table(summaries: dict[str, Any], names: list[str], rows: list[tuple[str, Any]] | None = None) -> str:
    present = [n for n in names if n in summaries]
    if not present:
        return ""
    lines = ["| | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for label, get in rows or ROWS:
        lines.append(f"| {label} | " + " | ".join(get(summaries[n]) for n in present) + " |")
    return "\n".join(lines)


def main() -> None:
    summaries = json.loads(Path(sys.argv[1]).read_text())["summaries"]
    for source in ("real", "espeak"):
        names = [name for name in summaries if name.endswith(f"[{source}]")]
        if names:
            print(f"Turn-taking, {source} fixture:\n")
            print(table(summaries, names, TURN_ROWS))
            print()
    print(table(summaries, ["rtcstream", "rtcstream firefox", "fastrtc", "fastrtc firefox"]))
    if "rtcstream" in summaries and "fastrtc" in summaries:
        a, b = summaries["rtcstream"], summaries["fastrtc"]
        print("\nFastRTC / rtcstream:")
        for what, x, y in (
            ("end of speech -> audible, median", a["latency_long"]["median"], b["latency_long"]["median"]),
            ("-> first sample, median", a["reply_start_long"]["median"], b["reply_start_long"]["median"]),
            ("pause detected, median", a["detection_median"], b["detection_median"]),
            ("release -> audible, median", a["release_to_ear"]["median"], b["release_to_ear"]["median"]),
            ("barge-in, median", a["barge_in"]["median"], b["barge_in"]["median"]),
            ("server CPU", a["cpu"]["server_pct_core"], b["cpu"]["server_pct_core"]),
        ):
            print(f"- {what}: {ratio(x, y)}")
    print()
    print(table(summaries, ["rtcstream pause 0.3", "rtcstream", "rtcstream pause 0.6"]))
    print()
    print(table(summaries, ["rtcstream", "rtcstream pre-roll 0.2", "rtcstream pre-roll 0.4"]))
    print()
    print(
        table(
            summaries,
            [
                "rtcstream impaired jitter 1",
                "rtcstream impaired jitter 2",
                "rtcstream impaired jitter 4",
                "fastrtc impaired",
            ],
        )
    )


if __name__ == "__main__":
    main()
