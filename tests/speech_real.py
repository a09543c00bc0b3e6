"""Turn-taking fixtures from recordings of real people that packages ship, plus espeak-ng ones, with marked pauses.

Every fixture is float32 mono audio at 16 kHz and a list of ``Segment``s that
tile it: ``speech``, ``hesitation_pause`` (the speaker is not done: a turn
must not end here) and ``turn_end_pause`` (the speaker is done). Pauses are
digital silence, the same for both kinds, so only the speech before a pause
tells them apart. A fixture is a pure function of the installed files (and
of pocketsphinx's model, for the alignments, cached in ``tests/.fixtures/``).

Real speech (each source is skipped when its package is missing, or fails the
calling test under ``CI=true``):

- ``asterisk``: Debian's ``asterisk-core-sounds-en-g722`` (1.6.1, 16 kHz
  G.722; CC-BY-SA-3.0), IVR prompts read by one professional speaker, Allison
  Smith, with their transcripts from ``asterisk-core-sounds-en``
  (``core-sounds-en.txt.gz``). Used: the prompts whose transcript is whole
  sentences (ends in ``.``, ``?`` or ``!``; no digits or brackets) of at least
  6 words, every word in pocketsphinx's dictionary, at most 7.5 s long; and
  ``FRAGMENTS``, prompts recorded to be followed by a number or a name ("You
  are currently caller number"): real incomplete utterances.
- ``pyannote``: the ``sample.wav`` in the ``pyannote-audio`` 4.0.7 wheel (MIT
  package; the recording's own origin and licence are not stated), 30 s of a
  real telephone conversation between two people, with a transcript and times
  per sentence (``sample.stm``). A fixture is one speaker's turn (consecutive
  sentences of one speaker, up to where the other starts); the last turn,
  cut off by the end of the file, is left out. The other speaker's voice leaks
  into a turn where they overlap (a backchannel at 18.2 s).
- ``alsa``: the ``alsa-utils`` channel names (``/usr/share/sounds/alsa``;
  GPL-2 package), one woman saying two-word phrases such as "Front left";
  complete short answers only.

How a recording becomes fixtures:

- trimmed to its voice (10 ms frames within 45 dB of its loudest, 30 ms kept
  on each side);
- ``complete``: the recording, then a 2 s ``turn_end_pause``;
- ``hesitation``: the recording cut at one word boundary, a
  ``hesitation_pause`` of 0.6-1.5 s (``HESITATIONS``, in turn), the rest, then
  the 2 s ``turn_end_pause``. The boundary comes from a pocketsphinx 5 forced
  alignment of the transcript (10 ms frames); only boundaries with at least
  two words on each side and no punctuation before them are candidates (so a
  cut never falls between sentences or after a comma); the cut is moved to
  the quietest 10 ms frame within 30 ms of the aligned gap, and 5 ms fades
  are applied on both sides. Of the candidates whose quietest frame is at
  least ``CLEAN_DEPTH_DB`` below the recording's speech level (the 90th
  percentile frame), the one nearest the recording's middle is taken; if none
  is that quiet, the deepest is taken and ``Cut.clean`` is False.
- ``fragment``: the recording, then a ``hesitation_pause``; no continuation.

Limits, honestly: the cut points are automatic. The aligner can misplace a
boundary (on telephone audio and overlapping voices more so), and in fluent
speech neighbouring words often run together with no silence between them,
so a cut may clip the end or start of a word, or fall inside one; an unclean
cut (``Cut.clean`` False, ``Cut.depth_db`` says how far below the speech
level it is) is the likeliest to. The inserted pause is silence joined to
speech that was not recorded before a pause: a real hesitation is also
announced by its prosody (lengthening, a held pitch), which a cut lacks; so
these hesitations are harder than real ones for a model that listens to
prosody, and "fragments" were read as prompts, not as a caller who stopped.
Nobody listened to every fixture.

Synthetic speech (``espeak_fixtures``): espeak-ng, two voices, each part
synthesised separately: fillers ("I'd like to book a table for, um, ...
four people at eight."), a trailing "and", lists ("apples, pears, and ...
bananas."), plain mid-clause cuts, and complete sentences. A first part
that does not end in punctuation gets a comma, so espeak-ng gives it its
continuing (not final) intonation.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import soxr

RATE = 16000
FIXTURES = Path(__file__).parent / ".fixtures"
ASTERISK_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ALSA_DIR = Path("/usr/share/sounds/alsa")
HESITATIONS = (0.6, 0.8, 1.0, 1.2, 1.5)  # seconds, used in turn
TURN_END_PAUSE = 2.0
CLEAN_DEPTH_DB = 20.0
MIN_WORDS = 6
MAX_SECONDS = 7.5
FRAME = RATE // 100  # 10 ms, pocketsphinx's frame
# Asterisk prompts recorded to be followed by something else: real, incomplete utterances.
FRAGMENTS = (
    "at-tone-time-exactly",
    "conf-enteringno",
    "conf-thereare",
    "confbridge-dec-list-vol-in",
    "confbridge-inc-talk-vol-in",
    "confbridge-leave-in",
    "confbridge-mute-in",
    "confbridge-remove-last-in",
    "confbridge-rest-talk-vol-in",
    "dir-pls-enter",
    "followme/call-from",
    "if-correct-press",
    "num-was-successfully",
    "privacy-to-blacklist-last-caller",
    "queue-holdtime",
    "queue-thereare",
    "vm-duration",
    "vm-from-phonenumber",
    "vm-num-i-have",
    "vm-onefor-full",
)

Kind = Literal["speech", "hesitation_pause", "turn_end_pause"]
Group = Literal["complete", "hesitation", "fragment", "filler", "and", "list", "cut"]


@dataclass(frozen=True)
class Segment:
    """A stretch of a fixture, in seconds from its start."""

    kind: Kind
    start: float
    end: float


@dataclass(frozen=True)
class Word:
    """One aligned word, in seconds from the start of its recording."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Cut:
    """Where a recording was split for a hesitation."""

    time: float  # seconds into the trimmed recording
    before: str  # the word before the cut ("" for an energy-only cut)
    after: str
    depth_db: float  # how far the quietest frame at the cut is below the recording's speech level
    clean: bool  # depth_db >= CLEAN_DEPTH_DB


@dataclass(frozen=True)
class Fixture:
    """Audio at 16 kHz (float32 mono) and its marked segments."""

    name: str
    source: str  # asterisk, pyannote, alsa, espeak
    group: Group
    speaker: str
    text: str
    samples: np.ndarray
    segments: tuple[Segment, ...]
    cut: Cut | None = None

    @property
    def pauses(self) -> list[Segment]:
        return [segment for segment in self.segments if segment.kind != "speech"]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


def missing(what: str) -> None:
    """Skip the calling test, or fail it under ``CI=true``: CI must not pass by running nothing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} is not installed")


# --- audio helpers -------------------------------------------------------------------------------


def decode(path: Path, container_format: str | None = None) -> np.ndarray:
    """Return a file's first audio stream as float32 mono at 16 kHz (PyAV decodes, soxr resamples)."""
    import av

    with av.open(str(path), format=container_format) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
    audio = np.concatenate([c.reshape(c.shape[0], -1) if c.ndim > 1 else c[None] for c in chunks], axis=1)
    mono = audio.astype(np.float32).mean(axis=0)
    if np.issubdtype(chunks[0].dtype, np.integer):
        mono /= 32768.0
    return mono if rate == RATE else soxr.resample(mono, rate, RATE, quality="HQ").astype(np.float32)


def frame_db(audio: np.ndarray) -> np.ndarray:
    """Return the RMS level in dBFS of each 10 ms frame."""
    usable = len(audio) // FRAME * FRAME
    rms = np.sqrt((audio[:usable].astype(np.float64).reshape(-1, FRAME) ** 2).mean(axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def trim(audio: np.ndarray, range_db: float = 45.0, margin_s: float = 0.03) -> np.ndarray:
    """Return ``audio`` without its leading and trailing frames more than ``range_db`` below its loudest."""
    levels = frame_db(audio)
    loud = np.flatnonzero(levels > levels.max() - range_db)
    margin = round(margin_s * RATE)
    return audio[max(0, loud[0] * FRAME - margin) : min(len(audio), (loud[-1] + 1) * FRAME + margin)]


def _fade(audio: np.ndarray, head: bool, tail: bool, seconds: float = 0.005) -> np.ndarray:
    out = audio.copy()
    n = min(round(seconds * RATE), len(out) // 2)
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
    if head:
        out[:n] *= ramp
    if tail:
        out[len(out) - n :] *= ramp[::-1]
    return out


def assemble(name: str, source: str, group: Group, speaker: str, text: str, parts: list, cut: Cut | None = None):
    """Join ``parts`` (``(kind, audio)`` for speech, ``(kind, seconds)`` for a pause) into a ``Fixture``."""
    chunks, segments, position = [], [], 0
    for kind, part in parts:
        chunk = part if kind == "speech" else np.zeros(round(part * RATE), dtype=np.float32)
        chunks.append(chunk.astype(np.float32))
        segments.append(Segment(kind, position / RATE, (position + len(chunk)) / RATE))
        position += len(chunk)
    return Fixture(name, source, group, speaker, text, np.concatenate(chunks), tuple(segments), cut)


# --- word boundaries ------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Return the lower-case words of a transcript, as pocketsphinx's dictionary spells them."""
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


@cache
def _decoder():
    from pocketsphinx import Decoder

    return Decoder(samprate=RATE, loglevel="FATAL")


def in_dictionary(text: str) -> bool:
    """True when pocketsphinx knows every word of ``text``."""
    return all(_decoder().lookup_word(word) is not None for word in words_of(text))


def align(audio: np.ndarray, text: str) -> list[Word]:
    """Return pocketsphinx 5's forced alignment of ``text`` to ``audio`` (silences left out), cached on disk."""
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16).tobytes()
    key = hashlib.sha256(pcm + text.encode()).hexdigest()[:20]
    cached = FIXTURES / f"align-{key}.json"
    if cached.exists():
        return [Word(**w) for w in json.loads(cached.read_text())]
    decoder = _decoder()
    try:
        decoder.set_align_text(" ".join(words_of(text)))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segments = list(decoder.seg() or [])
    except (RuntimeError, ValueError):  # an unknown word, or no path through the audio
        segments = []
    words = [
        Word(re.sub(r"\(\d+\)$", "", s.word), s.start_frame / 100, (s.end_frame + 1) / 100)
        for s in segments
        if not s.word.startswith("<") and not s.word.startswith("[")
    ]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([w.__dict__ for w in words]))
    tmp.replace(cached)
    return words


def choose_cut(audio: np.ndarray, text: str) -> Cut | None:
    """Return where to split ``audio`` mid-clause for a hesitation (see the module's docstring), or None."""
    tokens = text.split()
    spoken = words_of(text)
    words = align(audio, text)
    if [w.word for w in words] != spoken or len(tokens) != len(spoken):
        return None  # the aligner lost words, or a token is not one word: no reliable boundary
    levels = frame_db(audio)
    speech_level = float(np.percentile(levels, 90))
    middle = len(audio) / RATE / 2
    candidates = []
    for i in range(1, len(words) - 2):  # at least two words on each side
        if re.search(r"[.,;:?!]$", tokens[i]):
            continue
        lo = max(0, int((words[i].end - 0.03) * 100))
        hi = min(len(levels), int((words[i + 1].start + 0.03) * 100) + 1)
        if hi <= lo:
            continue
        quietest = lo + int(np.argmin(levels[lo:hi]))
        depth = speech_level - float(levels[quietest])
        candidates.append(Cut((quietest + 0.5) / 100, words[i].word, words[i + 1].word, round(depth, 1), False))
    if not candidates:
        return None
    clean = [c for c in candidates if c.depth_db >= CLEAN_DEPTH_DB]
    if clean:
        best = min(clean, key=lambda c: abs(c.time - middle))
        return Cut(best.time, best.before, best.after, best.depth_db, True)
    return max(candidates, key=lambda c: c.depth_db)


def split_fixtures(name: str, source: str, speaker: str, text: str, audio: np.ndarray, index: int) -> list[Fixture]:
    """Return the ``complete`` fixture of a recording and, when it can be cut, its ``hesitation`` one."""
    fixtures = [
        assemble(f"{name}", source, "complete", speaker, text, [("speech", audio), ("turn_end_pause", TURN_END_PAUSE)])
    ]
    cut = choose_cut(audio, text)
    if cut is not None:
        at = round(cut.time * RATE)
        head, tail = _fade(audio[:at], False, True), _fade(audio[at:], True, False)
        pause = HESITATIONS[index % len(HESITATIONS)]
        parts = [("speech", head), ("hesitation_pause", pause), ("speech", tail), ("turn_end_pause", TURN_END_PAUSE)]
        fixtures.append(assemble(f"{name}~cut", source, "hesitation", speaker, text, parts, cut))
    return fixtures


# --- the real sources -----------------------------------------------------------------------------


@cache
def asterisk_transcripts() -> dict[str, str]:
    """Return ``{prompt name: transcript}`` from asterisk-core-sounds-en's list."""
    if not ASTERISK_TEXT.exists():
        missing("asterisk-core-sounds-en (apt-get install asterisk-core-sounds-en asterisk-core-sounds-en-g722)")
    transcripts = {}
    for line in gzip.decompress(ASTERISK_TEXT.read_bytes()).decode("utf-8", "replace").splitlines():
        name, sep, text = line.partition(":")
        if sep and not name.startswith(";") and " " not in name.strip():
            transcripts[name.strip()] = text.strip()
    return transcripts


def _asterisk_audio(name: str) -> np.ndarray | None:
    path = ASTERISK_DIR / f"{name}.g722"
    return trim(decode(path, "g722")) if path.exists() else None


def asterisk_sentences() -> list[tuple[str, str]]:
    """Return the ``(name, transcript)`` of the whole-sentence prompts used (see the module's docstring)."""
    if not ASTERISK_DIR.is_dir():
        missing("asterisk-core-sounds-en-g722 (apt-get install asterisk-core-sounds-en-g722)")
    chosen = []
    for name, text in sorted(asterisk_transcripts().items()):
        if not re.search(r"[.?!]$", text) or re.search(r"[\d\[\]<>*#]", text) or "..." in text:
            continue
        if len(words_of(text)) < MIN_WORDS or not in_dictionary(text):
            continue
        if (ASTERISK_DIR / f"{name}.g722").exists():
            chosen.append((name, text))
    return chosen


def asterisk_fixtures(limit: int | None = None) -> list[Fixture]:
    """Return the Asterisk ``complete``, ``hesitation`` and ``fragment`` fixtures (the first ``limit`` sentences)."""
    fixtures: list[Fixture] = []
    index = 0
    for name, text in asterisk_sentences():
        if limit is not None and index >= limit:
            break
        audio = _asterisk_audio(name)
        if audio is None or len(audio) > MAX_SECONDS * RATE:
            continue
        fixtures += split_fixtures(f"asterisk/{name}", "asterisk", "Allison Smith", text, audio, index)
        index += 1
    transcripts = asterisk_transcripts()
    for i, name in enumerate(FRAGMENTS if limit is None else FRAGMENTS[: max(1, limit // 4)]):
        audio = _asterisk_audio(name)
        if audio is not None:
            parts = [("speech", audio), ("hesitation_pause", HESITATIONS[i % len(HESITATIONS)])]
            fixtures.append(
                assemble(f"asterisk/{name}", "asterisk", "fragment", "Allison Smith", transcripts[name], parts)
            )
    return fixtures


def pyannote_sample() -> tuple[Path, Path]:
    """Return the paths of pyannote-audio's ``sample.wav`` and ``sample.stm`` (pyannote is never imported)."""
    try:
        distribution = metadata.distribution("pyannote-audio")
    except metadata.PackageNotFoundError:
        missing("pyannote-audio's sample (pip install --no-deps pyannote-audio==4.0.7)")
    wav = Path(str(distribution.locate_file("pyannote/audio/sample/sample.wav")))
    stm = wav.with_suffix(".stm")
    if not (wav.exists() and stm.exists()):
        missing("pyannote-audio's sample files (pip install --no-deps pyannote-audio==4.0.7)")
    return wav, stm


def pyannote_fixtures() -> list[Fixture]:
    """Return one ``complete`` (and maybe one ``hesitation``) fixture per speaker turn of pyannote's sample."""
    wav, stm = pyannote_sample()
    audio = decode(wav)
    rows = [line.split(maxsplit=5) for line in stm.read_text().splitlines() if line.strip()]
    sentences = [(row[2], float(row[3]), float(row[4]), row[5]) for row in rows]
    turns: list[list[tuple[str, float, float, str]]] = []
    for sentence in sentences:
        if turns and turns[-1][-1][0] == sentence[0]:
            turns[-1].append(sentence)
        else:
            turns.append([sentence])
    fixtures: list[Fixture] = []
    previous_end = 0.0
    for index, turn in enumerate(turns[:-1]):  # the last turn runs into the end of the file
        next_start = turns[index + 1][0][1]
        start = max(turn[0][1] - 0.15, previous_end)
        end = min(turn[-1][2] + 0.1, next_start)
        previous_end = turn[-1][2]
        text = " ".join(sentence[3] for sentence in turn)
        clip = audio[round(start * RATE) : round(end * RATE)]
        fixtures += split_fixtures(f"pyannote/turn{index:02d}", "pyannote", turn[0][0], text, clip, index)
    return fixtures


def alsa_fixtures() -> list[Fixture]:
    """Return alsa-utils' spoken channel names as ``complete`` short answers."""
    paths = sorted(p for p in ALSA_DIR.glob("*.wav") if p.stem != "Noise") if ALSA_DIR.is_dir() else []
    if not paths:
        missing("alsa-utils' sounds (apt-get install alsa-utils)")
    fixtures = []
    for path in paths:
        text = path.stem.replace("_", " ") + "."
        parts = [("speech", trim(decode(path))), ("turn_end_pause", TURN_END_PAUSE)]
        fixtures.append(assemble(f"alsa/{path.stem}", "alsa", "complete", "alsa-utils speaker", text, parts))
    return fixtures


def real_fixtures(asterisk_limit: int | None = None) -> list[Fixture]:
    """Return every real-speech fixture: Asterisk, pyannote's conversation and alsa-utils' words."""
    return asterisk_fixtures(asterisk_limit) + pyannote_fixtures() + alsa_fixtures()


# --- synthetic: espeak-ng -------------------------------------------------------------------------

ESPEAK_VOICES = ("en-us", "en-gb")
ESPEAK_COMPLETE = (
    "What time is it?",
    "Please book a table for four people at eight.",
    "I would like to order a large pizza with mushrooms.",
    "Can you tell me the weather in Paris tomorrow?",
    "Thanks, that is all I needed.",
    "Set a timer for ten minutes.",
)
# (group, first part, second part): the pause goes between the parts.
ESPEAK_SPLIT: tuple[tuple[Group, str, str], ...] = (
    ("filler", "I'd like to book a table for, um,", "four people at eight."),
    ("filler", "So, uh,", "what's the weather like tomorrow?"),
    ("filler", "Can you, um,", "remind me to call my mother?"),
    ("filler", "My account number is, uh,", "four five six seven."),
    ("and", "I need milk, bread and", "some eggs."),
    ("and", "I went to the shop and", "bought a new phone."),
    ("and", "Call my sister and", "tell her I'll be late."),
    ("list", "Apples, pears, and", "bananas."),
    ("list", "I'd like apples, pears,", "and some grapes."),
    ("list", "We need red, green,", "and blue paint."),
    ("cut", "I want to go to", "the train station please."),
    ("cut", "Could you please turn", "off the lights in the kitchen?"),
)


def espeak(text: str, voice: str) -> np.ndarray:
    """Return ``text`` spoken by espeak-ng at 16 kHz (via ``tests.speech``, which caches it)."""
    from . import speech

    if shutil.which("espeak-ng") is None:
        missing("espeak-ng (apt-get install espeak-ng)")
    clip = speech.speech(text, voice=voice).astype(np.float32) / 32768
    return soxr.resample(clip, speech.RATE, RATE, quality="HQ").astype(np.float32)


def espeak_fixtures() -> list[Fixture]:
    """Return the synthetic fixtures: complete sentences and split ones (fillers, "and", lists, cuts)."""
    fixtures = []
    for v, voice in enumerate(ESPEAK_VOICES):
        for i, text in enumerate(ESPEAK_COMPLETE):
            parts = [("speech", espeak(text, voice)), ("turn_end_pause", TURN_END_PAUSE)]
            fixtures.append(assemble(f"espeak/{voice}/complete{i}", "espeak", "complete", voice, text, parts))
        for i, (group, first, second) in enumerate(ESPEAK_SPLIT):
            spoken_first = first if re.search(r"[.,;:?!]$", first) else first + ","
            parts = [
                ("speech", espeak(spoken_first, voice)),
                ("hesitation_pause", HESITATIONS[(i + v) % len(HESITATIONS)]),
                ("speech", espeak(second, voice)),
                ("turn_end_pause", TURN_END_PAUSE),
            ]
            name = f"espeak/{voice}/{group}{i}"
            fixtures.append(assemble(name, "espeak", group, voice, f"{first} ... {second}", parts))
    return fixtures


def to_48k_int16(samples: np.ndarray) -> np.ndarray:
    """Return 16 kHz float32 audio as the 48 kHz int16 that rtcstream's turn detector is fed."""
    resampled = soxr.resample(samples, RATE, 48000, quality="HQ")
    return np.clip(np.round(resampled * 32768), -32768, 32767).astype(np.int16)
