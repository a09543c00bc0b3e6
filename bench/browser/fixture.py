"""The fake microphone's recording: espeak-ng sentences with known pauses, and where each one is.

``build(folder)`` writes ``fixture.wav`` (48 kHz mono int16) and
``fixture.json``, the ground truth: for every sentence the first and last
voiced 5 ms block (in seconds from the file's start), the pause after it, its
kind, and for a sentence with a mid-sentence hesitation where that silence is.
Kinds:

- ``pause``: a sentence, then one of the pauses 0.3, 0.6, 1, 2, 3 or 5 s;
- ``hesitation``: two halves with 0.2-0.4 s of silence between them, then a pause;
- ``over``: a long sentence and a 2.5 s pause, so the next sentence starts
  while the echo of this one still plays (for either server's latency).

Chromium loops the file; it starts with ``LEAD_S`` of silence and ends with
the last pause, so a bench that stops at the file's end never hears it twice.

``build_turns(folder, source)`` writes the turn-taking fixtures of issue 22 the
same way (``turns-real.wav``, ``turns-espeak.wav`` and their timelines), from
the marked fixtures of ``tests/speech_real.py``: recordings of real people
(Asterisk's prompts, pyannote's telephone conversation, alsa-utils' words), or
espeak-ng's fillers, trailing "and", lists and cuts. Each turn is a
``pause`` (a whole recording) or a ``hesitation`` (the same recording cut at
a word boundary, with 0.6-1.5 s of silence inserted: the speaker is not done);
after it, a turn-end pause of 1, 2 or 3 s in turn (``TURN_END_PAUSES``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

RATE = 48000
LEAD_S = 2.0
VOICED_DB = -45.0  # a 5 ms block above this RMS (dBFS) is voice
SPEED = 150  # espeak-ng words per minute

# (text, pause after in seconds, kind); a hesitation's text is "first half|second half|gap".
SCRIPT: tuple[tuple[str, float, str], ...] = (
    ("What is the weather like today", 1.0, "pause"),
    ("Turn on the lights in the kitchen", 0.3, "pause"),
    ("and close the curtains please", 2.0, "pause"),
    ("How far away is the moon", 0.6, "pause"),
    ("Remind me to call my sister", 3.0, "pause"),
    ("Set a timer for|ten minutes|0.3", 1.0, "hesitation"),
    ("Where did I leave my keys", 5.0, "pause"),
    ("Please tell me a story about a small robot that learned to sing", 2.5, "over"),
    ("Tell me a joke about cats", 0.3, "pause"),
    ("How many days until summer", 2.0, "pause"),
    ("Translate good morning|into French|0.2", 3.0, "hesitation"),
    ("What is the capital of Canada", 0.6, "pause"),
    ("Add milk and bread to the list", 1.0, "pause"),
    ("Read me the news from this morning and then the weather for the weekend", 2.5, "over"),
    ("Who wrote|the book on the table|0.4", 5.0, "hesitation"),
    ("What time does the train leave", 1.0, "pause"),
    ("Spell the word necessary", 3.0, "pause"),
    ("Find a recipe for pancakes with blueberries and a little bit of honey", 2.5, "over"),
    ("Is it going to rain tomorrow", 2.0, "pause"),
    ("What is seven times eight", 1.0, "pause"),
    ("Open the garage door please", 3.0, "pause"),
    ("Play some music|by the window|0.25", 2.0, "hesitation"),
    ("How far is the nearest station", 5.0, "pause"),
)


@dataclass(frozen=True)
class Segment:
    """One sentence in the file; times in seconds from the file's first sample."""

    index: int
    text: str
    kind: str
    start: float  # first voiced block
    end: float  # end of the last voiced block: the end of speech
    pause_after: float
    hesitation: tuple[float, float] | None  # the mid-sentence silence, between voiced blocks


def voiced_span(samples: np.ndarray, threshold_db: float = VOICED_DB) -> tuple[int, int]:
    """Return (first sample of the first voiced 5 ms block, end of the last one); (0, 0) if none."""
    block = RATE // 200
    usable = len(samples) // block * block
    rms = np.sqrt((samples[:usable].astype(np.float64).reshape(-1, block) ** 2).mean(axis=1)) / 32768
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    if not len(loud):
        return 0, 0
    return int(loud[0]) * block, (int(loud[-1]) + 1) * block


def speak(text: str, folder: Path) -> np.ndarray:
    """Return ``text`` spoken by espeak-ng at 48 kHz, trimmed to its voiced span."""
    raw, resampled = folder / "raw.wav", folder / "resampled.wav"
    subprocess.run(["espeak-ng", "-s", str(SPEED), "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(resampled)], check=True)
    with wave.open(str(resampled)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    first, last = voiced_span(samples)
    return samples[first:last]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def build(folder: Path) -> tuple[Path, Path]:
    """Write ``fixture.wav`` and ``fixture.json`` into ``folder`` (kept if the script is unchanged)."""
    folder.mkdir(parents=True, exist_ok=True)
    wav_path, json_path = folder / "fixture.wav", folder / "fixture.json"
    signature = json.dumps([SCRIPT, RATE, LEAD_S, SPEED])
    if wav_path.exists() and json_path.exists() and json.loads(json_path.read_text()).get("signature") == signature:
        return wav_path, json_path
    parts = [silence(LEAD_S)]
    position = len(parts[0])
    segments: list[Segment] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (text, pause, kind) in enumerate(SCRIPT):
            hesitation = None
            if kind == "hesitation":
                first_text, second_text, gap = text.split("|")
                first, second = speak(first_text, Path(tmp)), speak(second_text, Path(tmp))
                gap_start = (position + len(first)) / RATE
                hesitation = (gap_start, gap_start + float(gap))
                spoken = np.concatenate([first, silence(float(gap)), second])
                text = f"{first_text} … {second_text}"
            else:
                spoken = speak(text, Path(tmp))
            start = position / RATE
            parts += [spoken, silence(pause)]
            position += len(spoken)
            segments.append(Segment(index, text, kind, start, position / RATE, pause, hesitation))
            position += round(pause * RATE)
    _write(wav_path, json_path, np.concatenate(parts), segments, signature)
    return wav_path, json_path


TURN_END_PAUSES = (1.0, 2.0, 3.0)
# Of the real fixtures (tests/speech_real.py): every 4th Asterisk hesitation and every 8th Asterisk
# sentence (a stretch of the list, so the sentences differ from the cut ones), every pyannote
# hesitation, half its turns and half alsa-utils' words.
REAL_CHOICE = {("asterisk", "hesitation"): (4, 0), ("asterisk", "complete"): (8, 3), ("pyannote", "hesitation"): (1, 0)}
REAL_CHOICE |= {("pyannote", "complete"): (2, 1), ("alsa", "complete"): (2, 0)}


def _turns_of(source: str) -> list:
    """The marked fixtures a turn-taking bench file is made of, in the order they are played."""
    from tests import speech_real

    if source == "espeak":
        fixtures = speech_real.espeak_fixtures()
        # Each split case once, the two voices in turn; every other complete sentence.
        voices = speech_real.ESPEAK_VOICES
        by_name = {f.name: f for f in fixtures}
        first_voice = [f for f in fixtures if f.group != "complete" and f.speaker == voices[0]]
        split = [f if i % 2 == 0 else by_name[f.name.replace(voices[0], voices[1])] for i, f in enumerate(first_voice)]
        complete = [f for f in fixtures if f.group == "complete"][::2]
    else:
        fixtures = [f for f in speech_real.real_fixtures() if f.group != "fragment"]
        chosen = []
        for (origin, group), (step, offset) in REAL_CHOICE.items():
            chosen += [f for f in fixtures if (f.source, f.group) == (origin, group)][offset::step]
        split = [f for f in chosen if f.group == "hesitation"]
        complete = [f for f in chosen if f.group == "complete"]
    order = []
    for i in range(max(len(split), len(complete))):  # alternate, so each kind meets every pause length
        order += [group[i] for group in (split, complete) if i < len(group)]
    return order


def build_turns(folder: Path, source: str) -> tuple[Path, Path]:
    """Write ``turns-<source>.wav`` and its timeline (``source``: "real" or "espeak"); kept if unchanged."""
    from tests import speech_real

    folder.mkdir(parents=True, exist_ok=True)
    wav_path, json_path = folder / f"turns-{source}.wav", folder / f"turns-{source}.json"
    turns = _turns_of(source)
    signature = json.dumps(
        [source, [f.name for f in turns], RATE, LEAD_S, TURN_END_PAUSES, [f.segments for f in turns]], default=str
    )
    if wav_path.exists() and json_path.exists() and json.loads(json_path.read_text()).get("signature") == signature:
        return wav_path, json_path
    parts = [silence(LEAD_S)]
    position = len(parts[0])
    segments: list[Segment] = []
    for index, turn in enumerate(turns):
        spoken_until = max(s.end for s in turn.segments if s.kind == "speech")
        audio = speech_real.to_48k_int16(turn.samples[: round(spoken_until * speech_real.RATE)])
        first, last = voiced_span(audio)
        gap = next((s for s in turn.segments if s.kind == "hesitation_pause"), None)
        hesitation = (
            None
            if gap is None
            else (
                (position + round(gap.start * RATE) - first) / RATE,
                (position + round(gap.end * RATE) - first) / RATE,
            )
        )
        pause = TURN_END_PAUSES[index % len(TURN_END_PAUSES)]
        spoken = audio[first:last]
        parts += [spoken, silence(pause)]
        text = f"{turn.name}: {turn.text}"
        segments.append(
            Segment(
                index,
                text,
                "hesitation" if gap else "pause",
                position / RATE,
                (position + len(spoken)) / RATE,
                pause,
                hesitation,
            )
        )
        position += len(spoken) + round(pause * RATE)
    _write(wav_path, json_path, np.concatenate(parts), segments, signature)
    return wav_path, json_path


def _write(wav_path: Path, json_path: Path, audio: np.ndarray, segments: list[Segment], signature: str) -> None:
    with wave.open(str(wav_path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(audio.tobytes())
    timeline = {
        "signature": signature,
        "rate": RATE,
        "duration": len(audio) / RATE,
        "segments": [asdict(segment) for segment in segments],
    }
    json_path.write_text(json.dumps(timeline, indent=1))


def envelope_db(path: Path, step_s: float = 0.01) -> np.ndarray:
    """Return the file's RMS level in dBFS per ``step_s`` (the reference for aligning the page's capture)."""
    with wave.open(str(path)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    block = round(step_s * RATE)
    usable = len(samples) // block * block
    rms = np.sqrt((samples[:usable].astype(np.float64).reshape(-1, block) ** 2).mean(axis=1)) / 32768
    return 20 * np.log10(np.maximum(rms, 1e-5))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    folder = Path(__file__).resolve().parents[2] / ".bench"
    for wav, timeline in (build(folder), build_turns(folder, "real"), build_turns(folder, "espeak")):
        data = json.loads(timeline.read_text())
        kinds = [segment["kind"] for segment in data["segments"]]
        print(f"{wav}: {data['duration']:.1f} s, {len(kinds)} turns, {kinds.count('hesitation')} with a hesitation")
