"""Turn-taking as a user hears it: Chromium and Firefox on rtcstream's demo page, on FastRTC 0.0.34 and on
pipecat 1.14, in the same run.

Run: ``make bench-browser`` (it makes ``.bench/fastrtc-venv`` and
``.bench/pipecat-venv`` first). Prints figures, never pass/fail; the raw
recordings and figures go to ``.bench/results/<time>.json``.

Each scenario is one real server (rtcstream's demo site under daphne,
``bench/browser/rtcstream_app.py``; FastRTC's ``Stream`` under uvicorn,
``bench/browser/fastrtc_app.py``; or pipecat's pipeline with Smart Turn v3.2
on its SmallWebRTC transport, ``bench/browser/pipecat_app.py``) and one
headless browser whose microphone plays the round's fixture
(``bench/browser/fixture.py``: the espeak-ng conversation, or the turn-taking
files of real recordings and of espeak-ng hesitations): Debian's chromium (its
fake capture device plays the file), or Debian's firefox-esr driven by Selenium
(tests/browser/firefox.py), which records from a private PulseAudio that
paplay feeds the file into once the page has opened the microphone. The page is
instrumented by ``bench/browser/instrument.js``; ``bench/browser/metrics.py``
turns the recordings into figures. Scenarios in a round run side by side (one
browser and one server each), so compared servers share the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.browser import fixture, metrics  # noqa: E402
from tests.browser import firefox  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.daphne import free_port, running, serve, stop  # noqa: E402

BENCH = ROOT / ".bench"
FASTRTC_PYTHON = BENCH / "fastrtc-venv" / "bin" / "python"
PIPECAT_PYTHON = BENCH / "pipecat-venv" / "bin" / "python"
OTHER_SERVERS = {  # the servers that run in the bench's own venvs: (python, app script, page path)
    "fastrtc": (FASTRTC_PYTHON, "fastrtc_app.py", "/?server=fastrtc"),
    "pipecat": (PIPECAT_PYTHON, "pipecat_app.py", "/?server=pipecat"),
}
INSTRUMENT = Path(__file__).with_name("instrument.js")
TAIL_S = 1.0  # recorded after the file's end (its last pause is 5 s: the last reply is in)


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "rtcstream", "fastrtc" or "pipecat"
    pause_seconds: float | None = None  # rtcstream's endpoint setting (None: the handler's 0.45 s)
    turn_model: str | None = None  # rtcstream's endpoint setting (None: the handler's own)
    # rtcstream's turn_model_pause_s and turn_model_max_pause_s (None: the handler's 0.3 s and 1.5 s)
    turn_model_pauses: tuple[float, float] | None = None
    jitter_frames: int | None = None  # RTCSTREAM["AUDIO_JITTER_FRAMES"] (None: the default)
    pre_roll_seconds: float | None = None  # rtcstream's endpoint setting (None: the handler's 0.1 s)
    impaired: bool = False
    dtx: bool | None = None  # RTCSTREAM["AUDIO_DTX"] (None: the default, on)
    browser: str = "chromium"  # or "firefox"
    transport: str | None = None  # rtcstream's widget: "websocket" (audio over the websocket), else its default


# The four systems of issue 22's turn-taking targets, on the same audio.
TURN_SYSTEMS = (
    ("rtcstream turn model", "rtcstream", "smart-turn"),
    ("rtcstream vad only", "rtcstream", "none"),
    ("fastrtc", "fastrtc", None),
    ("pipecat smart turn", "pipecat", None),
)


def _turn_round(fixture_name: str) -> list[Scenario]:
    return [Scenario(f"{name} [{fixture_name}]", server, turn_model=model) for name, server, model in TURN_SYSTEMS]


# The fixture each round plays (fixture.py): the espeak-ng conversation unless named here.
# The turn model's two pause settings on the real recordings, beside the VAD alone.
TURN_MODEL_PAUSES = ((0.3, 1.5), (0.2, 1.5), (0.2, 1.0))

ROUND_FIXTURES = {"turns-real": "real", "turns-espeak": "espeak", "turn-model-pauses": "real"}
ROUNDS: dict[str, list[Scenario]] = {
    "turns-real": _turn_round("real"),
    "turns-espeak": _turn_round("espeak"),
    "turn-model-pauses": [
        *(
            Scenario(
                f"rtcstream turn model {ask}/{bound} [real]",
                "rtcstream",
                turn_model="smart-turn",
                turn_model_pauses=(ask, bound),
            )
            for ask, bound in TURN_MODEL_PAUSES
        ),
        Scenario("rtcstream vad only [real]", "rtcstream", turn_model="none"),
    ],
    "lan": [Scenario("rtcstream", "rtcstream"), Scenario("fastrtc", "fastrtc")],
    "firefox": [
        Scenario("rtcstream firefox", "rtcstream", browser="firefox"),
        Scenario("fastrtc firefox", "fastrtc", browser="firefox"),
    ],
    "pauses": [
        Scenario("rtcstream pause 0.3", "rtcstream", pause_seconds=0.3),
        Scenario("rtcstream pause 0.6", "rtcstream", pause_seconds=0.6),
    ],
    "pre-roll": [
        Scenario("rtcstream pre-roll 0.4", "rtcstream", pre_roll_seconds=0.4),
        Scenario("rtcstream pre-roll 0.2", "rtcstream", pre_roll_seconds=0.2),
    ],
    "dtx": [
        Scenario("rtcstream dtx", "rtcstream", dtx=True),
        Scenario("rtcstream every frame", "rtcstream", dtx=False),
    ],
    "impaired": [
        Scenario("rtcstream impaired jitter 1", "rtcstream", jitter_frames=1, impaired=True),
        Scenario("fastrtc impaired", "fastrtc", impaired=True),
    ],
    # The widget's audio over the websocket (transport="websocket"), beside WebRTC, on the same machine.
    "websocket": [
        Scenario("rtcstream webrtc", "rtcstream"),
        Scenario("rtcstream websocket", "rtcstream", transport="websocket"),
    ],
    "impaired-jitter": [
        Scenario("rtcstream impaired jitter 4", "rtcstream", jitter_frames=4, impaired=True),
        Scenario("rtcstream impaired jitter 2", "rtcstream", jitter_frames=2, impaired=True),
    ],
}


def _slug(name: str) -> str:
    """``name`` as a file and database name: spaces and slashes become dashes; dots and brackets go."""
    return re.sub(r"[.\[\]]", "", re.sub(r"[ /]", "-", name))


def _server_env(scenario: Scenario, logs: Path) -> dict[str, str]:
    env = {
        "BENCH_RELEASE_LOG": f"{logs}-releases.txt",
        "BENCH_REPLY_LOG": f"{logs}-replies.txt",
        "BENCH_MODEL_LOG": f"{logs}-model.txt",
    }
    if scenario.impaired:
        env["BENCH_IMPAIR"] = "1"
    if scenario.pause_seconds is not None:
        env["BENCH_PAUSE_SECONDS"] = str(scenario.pause_seconds)
    if scenario.pre_roll_seconds is not None:
        env["BENCH_PRE_ROLL_SECONDS"] = str(scenario.pre_roll_seconds)
    if scenario.jitter_frames is not None:
        env["BENCH_JITTER_FRAMES"] = str(scenario.jitter_frames)
    if scenario.dtx is not None:
        env["BENCH_AUDIO_DTX"] = "1" if scenario.dtx else "0"
    if scenario.turn_model is not None:
        env["BENCH_TURN_MODEL"] = scenario.turn_model
    if scenario.turn_model_pauses is not None:
        env["BENCH_TURN_MODEL_PAUSE_SECONDS"], env["BENCH_TURN_MODEL_MAX_PAUSE_SECONDS"] = map(
            str, scenario.turn_model_pauses
        )
    return env


@contextlib.contextmanager
def other_server(server: str, env: dict[str, str], name: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve FastRTC's or pipecat's app script with the bench's venv for it; yield (url, process)."""
    python, script, _page = OTHER_SERVERS[server]
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `make bench-browser`, which creates it")
    port = free_port()
    command = [str(python), str(Path(__file__).with_name(script)), str(port)]
    # gradio's and pipecat's imports take a while on a busy machine
    with running(command, name, "127.0.0.1", port, {**os.environ, **env}, startup=180) as process:
        yield f"http://127.0.0.1:{port}", process


def start_server(stack: contextlib.ExitStack, scenario: Scenario, logs: Path) -> tuple[str, int]:
    """Start the scenario's server (its logs start with ``logs``); return the page's URL and the server's pid."""
    env = _server_env(scenario, logs)
    name = f"bench-browser-{_slug(scenario.name)}"
    if scenario.server in OTHER_SERVERS:
        url, process = stack.enter_context(other_server(scenario.server, env, name))
        return url + OTHER_SERVERS[scenario.server][2], process.pid
    url, process = stack.enter_context(
        serve("bench.browser.settings", name, app="bench.browser.rtcstream_app:application", env=env)
    )
    return f"{url}/demos/talk-echo/", process.pid


def _cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def _browser_processes(profile: str) -> list[psutil.Process]:
    """The chromium started with ``profile`` as its user-data-dir, and all its descendants."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(arg == f"--user-data-dir={profile}" for arg in cmdline) and not any(
            arg.startswith("--type=") for arg in cmdline
        ):
            with contextlib.suppress(psutil.Error):
                return [process, *process.children(recursive=True)]
    return []


def _cpu_percent(before: dict[int, float], after: dict[int, float], seconds: float) -> float:
    used = sum(after[pid] - before[pid] for pid in after if pid in before)
    return 100 * used / seconds


def _transport_script(scenario: Scenario) -> str:
    """What the page runs before Start: the widget's transport attribute, as the tag's option sets it."""
    transport = scenario.transport or ""
    return (
        f"() => {{ if ({transport!r}) document.querySelector('rtc-stream').setAttribute('transport', {transport!r}); }}"
    )


def _start(page: Any, scenario: Scenario) -> None:
    if scenario.server == "fastrtc":
        page.evaluate("start()")
    else:
        page.evaluate(_transport_script(scenario))
        page.click("rtc-stream [data-part=start]")


def drive_firefox(scenario: Scenario, url: str, server_pid: int, wav: Path, duration: float) -> dict:
    """As ``drive``, in a fresh firefox-esr whose microphone is a PulseAudio of its own: the file is
    played into it once the page has opened the microphone (the alignment finds where it starts)."""
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pulse-", dir=BENCH)))
        pulse = stack.enter_context(firefox.pulse_microphone(folder))
        browser = firefox.Firefox(env=pulse.env, log=BENCH / "logs" / f"geckodriver-{_slug(scenario.name)}.log")
        stack.callback(browser.close)
        context = browser.new_context()
        context.add_init_script(path=str(INSTRUMENT))
        page = context.new_page()
        page.on("pageerror", lambda err: print(f"  [{scenario.name}] page error: {err}"))
        page.goto(url)
        _start(page, scenario)
        page.wait_for_function("() => window.__bench.marks.microphone", timeout=30000)
        player = pulse.play(wav)
        stack.callback(stop, player)
        server = psutil.Process(server_pid)
        processes = psutil.Process(browser.driver.service.process.pid).children(recursive=True)  # not geckodriver
        daemon = [psutil.Process(pulse.pid)]
        t0, server0, browser0, pulse0 = (
            time.time(),
            _cpu_seconds([server]),
            _cpu_seconds(processes),
            _cpu_seconds(daemon),
        )
        time.sleep(max(0.0, page.evaluate("window.__bench.marks.microphone") / 1000 + duration + TAIL_S - time.time()))
        t1, server1, browser1, pulse1 = (
            time.time(),
            _cpu_seconds([server]),
            _cpu_seconds(processes),
            _cpu_seconds(daemon),
        )
        recording = page.evaluate("() => window.__bench")
    recording["cpu"] = {
        "server_pct_core": _cpu_percent(server0, server1, t1 - t0),
        "browser_pct_core": _cpu_percent(browser0, browser1, t1 - t0),
        "browser_processes": len(processes),
        "pulseaudio_pct_core": _cpu_percent(pulse0, pulse1, t1 - t0),
    }
    return recording


async def drive(playwright: Any, scenario: Scenario, url: str, server_pid: int, wav: Path, duration: float) -> dict:
    """Open the page in a fresh chromium (or firefox: ``drive_firefox``), start the session, record for
    the file's length; return the recording."""
    if scenario.browser == "firefox":
        return await asyncio.to_thread(drive_firefox, scenario, url, server_pid, wav, duration)
    profile = tempfile.mkdtemp(prefix="profile-", dir=BENCH)
    context = await playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    try:
        await context.add_init_script(path=str(INSTRUMENT))
        page = context.pages[0] if context.pages else await context.new_page()
        page.on("pageerror", lambda err: print(f"  [{scenario.name}] page error: {err}"))
        await page.goto(url)
        if scenario.server in OTHER_SERVERS:
            await page.evaluate("start()")
        else:
            await page.evaluate(_transport_script(scenario))
            await page.click("rtc-stream [data-part=start]")
        await page.wait_for_function("() => window.__bench.marks.microphone", timeout=30000)
        microphone = await page.evaluate("window.__bench.marks.microphone") / 1000
        server = psutil.Process(server_pid)
        browser = _browser_processes(profile)
        t0, server0, browser0 = time.time(), _cpu_seconds([server]), _cpu_seconds(browser)
        await asyncio.sleep(max(0.0, microphone + duration + TAIL_S - time.time()))
        t1, server1, browser1 = time.time(), _cpu_seconds([server]), _cpu_seconds(browser)
        recording = await page.evaluate("() => window.__bench")
    finally:
        await context.close()
        shutil.rmtree(profile, ignore_errors=True)
    recording["cpu"] = {
        "seconds": t1 - t0,
        "server_pct_core": _cpu_percent(server0, server1, t1 - t0),
        "browser_pct_core": _cpu_percent(browser0, browser1, t1 - t0),
        "browser_processes": len(browser),
    }
    return recording


def _read_log(path: Path) -> list[list[float]]:
    if not path.exists():
        return []
    return [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]


async def run_round(scenarios: list[Scenario], wav: Path, duration: float, stamp: str) -> dict[str, dict]:
    from playwright.async_api import async_playwright

    recordings: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        targets = []
        for scenario in scenarios:
            logs = BENCH / "logs" / f"{stamp}-{_slug(scenario.name)}"
            logs.parent.mkdir(parents=True, exist_ok=True)
            url, pid = start_server(stack, scenario, logs)
            targets.append((scenario, url, pid, logs))
        async with async_playwright() as playwright:
            results = await asyncio.gather(
                *(drive(playwright, s, url, pid, wav, duration) for s, url, pid, _log in targets),
                return_exceptions=True,
            )
        for (scenario, _url, _pid, logs), result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                print(f"  {scenario.name}: FAILED: {result!r}")
                traceback.print_exception(result)
                continue
            result["releases"] = [row[0] for row in _read_log(Path(f"{logs}-releases.txt"))]
            result["replies"] = _read_log(Path(f"{logs}-replies.txt"))
            result["model_calls"] = _read_log(Path(f"{logs}-model.txt"))
            recordings[scenario.name] = result
    return recordings


# -- printing -----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_summary(name: str, s: dict[str, Any]) -> None:
    print(
        f"\n== {name}  (fixture alignment correlation {s['alignment']:.2f}; "
        f"page audio output latency {_ms(s['output_latency'])} ms)"
    )
    long = s["latency_long"]
    print(
        f"  end of speech -> audible reply, pauses >= 1 s: median {_ms(long['median'])} ms, "
        f"p95 {_ms(long['p95'])} ms (n={long['n']})"
    )
    st = s["reply_start_long"]
    print(
        f"  same, less the echo's leading silence (median {_ms(s['leading_silence_median'])} ms): the reply's "
        f"first sample plays after median {_ms(st['median'])} ms, p95 {_ms(st['p95'])} ms (n={st['n']})"
    )
    for pause, v in s["latency_by_pause"].items():
        print(f"    pause {pause:g} s: median {_ms(v['median'])} ms, p95 {_ms(v['p95'])} ms (n={v['n']})")
    print(f"  end of speech -> pause_detected at the page (median): {_ms(s['detection_median'])} ms")
    r = s["release_to_ear"]
    print(
        f"  server releases first loud reply frame -> audible: median {_ms(r['median'])} ms, "
        f"p95 {_ms(r['p95'])} ms (n={r['n']}); response_starting -> audible median "
        f"{_ms(s['response_starting_to_ear_median'])} ms"
    )
    print(
        f"  replies missed after >= 1 s of silence: {s['missed_long']} of {s['long_n']} (and {s['cut_long']} "
        f"interrupted by the next sentence before they were heard); replies started, not interrupted, "
        f"never heard: {s['dead_replies']}"
    )
    turns = ", ".join(f"{p:g} s pause: {a}/{b}" for p, (a, b) in s["turns_at_short_pause"].items())
    print(
        f"  replies started inside a hesitation: {s['false_turns_hesitation']} of {s['hesitation_n']}; "
        f"turns at {turns}; turns ended by the turn model: {s.get('model_decided', 0)}"
    )
    b = s["barge_in"]
    print(
        f"  barge-in: {b['within_300ms']} of {b['n']} talked-over replies stopped within 300 ms; stop latency "
        f"median {_ms(b['median'])} ms, p95 {_ms(b['p95'])} ms; the server heard the new speech after "
        f"{_ms(b['server_onset_median'])} ms and released its last loud frame after {_ms(b['server_stop_median'])} ms "
        "(medians)"
    )
    c = s["clip_start"]
    print(f"  reply start clipped: median {_ms(c['median'])} ms, p95 {_ms(c['p95'])} ms (n={c['n']})")
    st = s["stats"]
    if st:
        print(
            f"  the browser: jitter buffer {_pct(st['jitter_buffer_ms_mean'], 0)} ms mean "
            f"(p95 per 250 ms {_pct(st['jitter_buffer_ms_p95'], 0)}), target {_pct(st['target_delay_ms_mean'], 0)} ms; "
            f"concealed {_pct(st['concealed_pct'])}% ({st['concealment_events']} events); "
            f"decelerated +{st['inserted_s']:.2f} s, accelerated -{st['removed_s']:.2f} s; "
            f"packets {st['packets_received']} received, {st['packets_lost']} lost; "
            f"the browser sent {_pct(st.get('packets_sent_per_s'))} audio packets/s"
        )
    cpu = s["cpu"]
    pulse = f", PulseAudio {cpu['pulseaudio_pct_core']:.1f}%" if "pulseaudio_pct_core" in cpu else ""
    print(
        f"  CPU: server {cpu['server_pct_core']:.1f}% of a core, browser {cpu['browser_pct_core']:.1f}% "
        f"({cpu['browser_processes']} processes){pulse}"
    )
    model = s.get("model_calls") or {}
    if model.get("n"):
        print(
            f"  turn model: {model['n']} calls, CPU per call median {_ms(model['cpu_median'])} ms "
            f"(p95 {_ms(model['cpu_p95'])} ms), {model['pct_core']:.2f}% of a core over the recording"
        )
    print(f"  events: {s['events']}")


def print_ratios(ours: dict[str, Any], theirs: dict[str, Any], label: str, other: str) -> None:
    """One row per figure: ours, the other server's, and other / ours."""
    seconds = [
        ("end of speech -> audible, median", ours["latency_long"]["median"], theirs["latency_long"]["median"]),
        ("end of speech -> audible, p95", ours["latency_long"]["p95"], theirs["latency_long"]["p95"]),
        (
            "same, less leading silence, median",
            ours["reply_start_long"]["median"],
            theirs["reply_start_long"]["median"],
        ),
        ("pause detected, median", ours["detection_median"], theirs["detection_median"]),
        ("release -> audible, median", ours["release_to_ear"]["median"], theirs["release_to_ear"]["median"]),
        ("barge-in stop, median", ours["barge_in"]["median"], theirs["barge_in"]["median"]),
        ("start clipped, median", ours["clip_start"]["median"], theirs["clip_start"]["median"]),
    ]
    rows = [(what, a, b, _ms(a), _ms(b), "ms") for what, a, b in seconds]
    a, b = ours["cpu"]["server_pct_core"], theirs["cpu"]["server_pct_core"]
    rows.append(("server CPU (% of a core)", a, b, _pct(a), _pct(b), "%"))
    print(f"\n== {other} / rtcstream ({label})")
    for what, a, b, fa, fb, unit in rows:
        ratio = "-" if not a or b is None else f"{b / a:.2f}x"
        print(f"  {what:36s} rtcstream {fa:>6s} {unit:2s} {other} {fb:>6s} {unit:2s} ratio {ratio}")


def busy_processes(threshold: float = 20.0) -> str:
    """Processes other than this one using more than ``threshold`` % of a core over a second: who else runs."""
    processes = [p for p in psutil.process_iter(["pid", "name", "cmdline"]) if p.pid != os.getpid()]
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.cpu_percent(None)
    time.sleep(1.0)
    busy = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            share = process.cpu_percent(None)
            if share > threshold:
                command = " ".join(process.info["cmdline"] or [process.info["name"] or "?"])[:60]
                busy.append(f"{command!r} {share:.0f}%")
    return ", ".join(busy) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", default=",".join(ROUNDS), help=f"comma-separated, from {list(ROUNDS)}")
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run a round's scenarios one after the other (a quiet machine's figures) instead of side by side",
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names to keep from those rounds")
    parser.add_argument(
        "--measure-again",
        type=Path,
        metavar="RESULTS",
        help="run nothing: measure the recordings of an earlier run (.bench/results/<time>.json) again with "
        "today's metrics (the same sound, a corrected measure)",
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    earlier = json.loads(args.measure_again.read_text()) if args.measure_again else None
    if earlier is None:
        print(
            f"chromium {CHROMIUM}, firefox {firefox.FIREFOX}; other processes using CPU at the start: {busy_processes()}"
        )
    else:
        print(f"measuring again the recordings of {args.measure_again}")
    summaries: dict[str, dict] = {}
    raw: dict[str, dict] = {}
    for round_name in args.rounds.split(","):
        scenarios = [s for s in ROUNDS[round_name] if not only or s.name in only]
        if not scenarios:
            continue
        source = ROUND_FIXTURES.get(round_name)
        wav, timeline_path = fixture.build(BENCH) if source is None else fixture.build_turns(BENCH, source)
        timeline = json.loads(timeline_path.read_text())
        fixture_db = fixture.envelope_db(wav, metrics.STEP)
        duration = timeline["duration"]
        print(f"fixture: {wav} ({duration:.0f} s, {len(timeline['segments'])} turns)")
        print(f"round {round_name}: {', '.join(s.name for s in scenarios)} ({duration + TAIL_S:.0f} s of audio)")
        recordings = {}
        if earlier is not None:
            recordings = {s.name: earlier["raw"][s.name]["recording"] for s in scenarios if s.name in earlier["raw"]}
            loads = {name: earlier["summaries"][name]["load_average"] for name in recordings}
        else:
            for group in [[s] for s in scenarios] if args.one_at_a_time else [scenarios]:
                try:
                    recordings.update(asyncio.run(run_round(group, wav, duration, stamp)))
                except Exception as error:  # a server that never started: say so, and go on with the others
                    print(f"  {', '.join(s.name for s in group)}: FAILED: {error!r}")
            load = os.getloadavg()[1]  # the machine's load over the round's last 5 minutes
            print(f"  machine load average (5 min) after the round: {load:.1f} on {os.cpu_count()} cores")
            loads = dict.fromkeys(recordings, load)
        for name, recording in recordings.items():
            session = metrics.analyse(timeline, fixture_db, recording)
            summaries[name] = {**metrics.summarise(session), "load_average": loads[name], "fixture": wav.name}
            raw[name] = {"items": [asdict(item) for item in session.items], "recording": recording}
            print_summary(name, summaries[name])
    for ours, theirs, label, other in (
        ("rtcstream", "fastrtc", "LAN", "FastRTC 0.0.34"),
        ("rtcstream impaired jitter 1", "fastrtc impaired", "impaired path", "FastRTC 0.0.34"),
        ("rtcstream dtx", "rtcstream every frame", "Opus DTX on", "rtcstream without DTX"),
        ("rtcstream firefox", "fastrtc firefox", "Firefox, LAN", "FastRTC 0.0.34"),
        ("rtcstream", "rtcstream firefox", "the same server in Chromium", "rtcstream in Firefox"),
        ("rtcstream webrtc", "rtcstream websocket", "the widget over WebRTC", "over the websocket"),
    ):
        if ours in summaries and theirs in summaries:
            print_ratios(summaries[ours], summaries[theirs], label, other)
    results = BENCH / "results" / f"{stamp}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({"summaries": summaries, "raw": raw}, default=str))
    print(f"\nrecordings and figures: {results}")


if __name__ == "__main__":
    main()
