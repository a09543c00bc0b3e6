"""Streaming stop-word (wake phrase) spotting with PocketSphinx's keyphrase search, offline.

The ``pocketsphinx`` wheel ships the model used here: the CMU US English acoustic model and the
CMU pronouncing dictionary; nothing downloads at run time (``pip install "rtcstream[stopwords]"``).
A phrase is spotted from its phonemes (no speech-to-text and no language model), so any phrase
whose words are in the dictionary works, or pass their phonemes in ``pronunciations``.

Where it runs: PocketSphinx holds the GIL while it searches (0.5-1 ms of a core a 20 ms frame;
measured: a Python thread beside it runs at a third of its speed), so in the server's process it
would stall every session's media, however it was threaded. Each ``StopWordDetector`` owns a
decoder in a child process of its own (``rtcstream.speech.decoder_process``: about 20 MB and 0.1 s
to start, since the dictionary and keyphrase list it loads hold only the stop words); ``feed``
blocks until the child answers (the GIL is free meanwhile), so ``ReplyOnStopWords`` calls it from
its worker pool. What the server's process shares, read-only, through the runtime
(``rtcstream.runtime.Runtime.models``), is the lexicon look-up and the dictionary and keyphrase
files written once per distinct set of stop words. ``close()`` ends the child (so does the
detector's garbage collection, and the server's exit).

``ReplyOnStopWords`` (``rtcstream.handlers.reply_on_stopwords``) puts it in front of
ReplyOnPause's turn detector.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rtcstream.speech.decoder_process import DecoderProcess, Task, spotting

MODEL_RATE = 16000
FRAME_SAMPLES = 160  # PocketSphinx's 10 ms frame at 16 kHz
# Seconds the decoder process may take to answer, beyond the audio's own length (it takes about a twentieth of
# that): a process that hangs fails its session's detection in time instead of holding a worker thread.
ANSWER_TIMEOUT = 2.0
# Keyphrase threshold as a power of ten per phoneme of the phrase: "computer" (8 phonemes) gets 6e-36.
# Five phrases read by a person are all heard (the weakest needs -3.4) with no false alarm: docs/stopwords.md.
LOG10_THRESHOLD_PER_PHONE = -4.4
_WORD = re.compile(r"[a-z0-9']+")


class StopWordsUnavailable(RuntimeError):
    """PocketSphinx, which ships the keyword-spotting model, is not installed."""


@dataclass(frozen=True)
class StopWordHeard:
    """A stop word was spotted: ``end`` is the sample (at the fed rate, counted from the first fed) where it ended."""

    phrase: str  # as given to the detector
    end: int
    detected_at: int  # samples fed when it was reported; ``detected_at - end`` is the latency


def normalize(phrase: str) -> str:
    """Return ``phrase`` lower-cased, without punctuation, words separated by one space."""
    return " ".join(_WORD.findall(phrase.lower()))


def model_paths() -> tuple[Path, Path]:
    """Return the acoustic model folder and the pronouncing dictionary that the pocketsphinx wheel ships."""
    try:
        import pocketsphinx
    except ImportError as exc:
        raise StopWordsUnavailable(
            "Stop-word spotting needs PocketSphinx and the English model its wheel ships: "
            'pip install "rtcstream[stopwords]" (or: pip install pocketsphinx).'
        ) from exc
    root = Path(pocketsphinx.get_model_path()) / "en-us"
    hmm, lexicon = root / "en-us", root / "cmudict-en-us.dict"
    if not (hmm / "mdef").is_file() or not lexicon.is_file():
        raise StopWordsUnavailable(
            f"The PocketSphinx English model is missing from {root}: pip install --force-reinstall pocketsphinx."
        )
    return hmm, lexicon


def _read_lexicon(words: frozenset[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    with open(model_paths()[1], encoding="utf-8") as lexicon:
        for line in lexicon:
            entry, _, phones = line.partition(" ")
            word = entry.split("(", 1)[0]  # "word(2)" is an alternative pronunciation
            if word in words:
                found.setdefault(word, []).append(phones.strip())
    return {word: tuple(prons) for word, prons in found.items()}


def lookup(words: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Return the pronunciations (``"K AH M P Y UW T ER"``, ...) of ``words`` found in the shipped dictionary.

    Read once per set of words and process (the runtime keeps it).
    """
    from rtcstream.runtime import get_runtime

    key = "stopwords:lexicon:" + " ".join(sorted(words))
    return get_runtime().models.get(key, lambda: _read_lexicon(words))


def lexicon_for(
    stop_words: Iterable[str], pronunciations: Mapping[str, str] | None = None
) -> dict[str, tuple[str, ...]]:
    """Return the pronunciations of every word of ``stop_words``, or raise ``ValueError`` naming those not found.

    ``pronunciations`` gives phonemes for words the dictionary lacks (``{"zorblax": "Z AO R B L AE K S"}``).
    """
    phrases = [normalize(phrase) for phrase in stop_words]
    if not phrases:
        raise ValueError("Give at least one stop word.")
    if "" in phrases:
        raise ValueError(f"A stop word has no words: {list(stop_words)!r}")
    words = {word for phrase in phrases for word in phrase.split()}
    given = {normalize(word): (phones.upper(),) for word, phones in (pronunciations or {}).items()}
    unknown = frozenset(words - set(given))
    lexicon = {**(lookup(unknown) if unknown else {}), **given}
    missing = sorted(words - set(lexicon))
    if missing:
        raise ValueError(
            f"Not in PocketSphinx's English dictionary: {', '.join(missing)}. "
            'Spell them as they sound, or give their phonemes: pronunciations={"word": "W ER D"}.'
        )
    return {word: lexicon[word] for word in sorted(words)}


@dataclass(frozen=True)
class _Files:
    dictionary: str
    keyphrases: str


def _write_files(phrases: dict[str, float], lexicon: dict[str, tuple[str, ...]]) -> _Files:
    """Write the dictionary and keyphrase list once per process for this set of phrases; return their paths."""
    from rtcstream.runtime import get_runtime

    models = get_runtime().models
    key = repr((sorted(phrases.items()), sorted(lexicon.items())))

    def write() -> _Files:
        folder: tempfile.TemporaryDirectory[str] = models.get(
            "stopwords:folder", lambda: tempfile.TemporaryDirectory(prefix="rtcstream-stopwords-")
        )
        stem = Path(folder.name) / hashlib.sha256(key.encode()).hexdigest()[:16]
        lines = [
            f"{w}{'' if i == 0 else f'({i + 1})'} {p}" for w, ps in sorted(lexicon.items()) for i, p in enumerate(ps)
        ]
        stem.with_suffix(".dict").write_text("\n".join(lines) + "\n", encoding="utf-8")
        keyphrases = [f"{phrase} /{threshold:.1e}/" for phrase, threshold in phrases.items()]
        stem.with_suffix(".kws").write_text("\n".join(keyphrases) + "\n", encoding="utf-8")
        return _Files(str(stem.with_suffix(".dict")), str(stem.with_suffix(".kws")))

    return models.get("stopwords:files:" + key, write)


class Spotter(Protocol):
    """Where the keyphrase search runs: ``DecoderProcess`` (a child process), or a stand-in for it."""

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...

    def ask(self, pcm: bytes, timeout: float) -> str: ...

    def close(self) -> None: ...


class StopWordDetector:
    """Spot stop words in one int16 mono stream: ``feed`` frames, get ``StopWordHeard`` events.

    ``threshold`` is PocketSphinx's keyphrase threshold: lower finds more and false-alarms more.
    By default each phrase gets ``10 ** (LOG10_THRESHOLD_PER_PHONE * phonemes)``; a mapping sets it per phrase.
    ``spotter`` makes what runs the search from its ``Task`` (``spotting(...)``); a child process by default.
    """

    def __init__(
        self,
        stop_words: Iterable[str],
        sample_rate: int = MODEL_RATE,
        threshold: float | Mapping[str, float] | None = None,
        pronunciations: Mapping[str, str] | None = None,
        spotter: Callable[[Task], Spotter] = DecoderProcess,
    ) -> None:
        self.stop_words = list(stop_words)
        self.sample_rate = sample_rate
        self.threshold = threshold
        self.pronunciations = dict(pronunciations or {})
        lexicon = lexicon_for(self.stop_words, self.pronunciations)
        self._names = {normalize(phrase): phrase for phrase in self.stop_words}
        hmm, _ = model_paths()
        thresholds = {phrase: self._threshold(phrase, lexicon) for phrase in self._names}
        self.thresholds = {self._names[phrase]: value for phrase, value in thresholds.items()}
        files = _write_files(thresholds, lexicon)
        self._decoder = spotter(spotting(str(hmm), files.dictionary, files.keyphrases))
        self.reset()

    def _threshold(self, phrase: str, lexicon: dict[str, tuple[str, ...]]) -> float:
        name = self._names[phrase]
        if isinstance(self.threshold, Mapping):
            if name in self.threshold:
                return float(self.threshold[name])
        elif self.threshold is not None:
            return float(self.threshold)
        phonemes = sum(len(lexicon[word][0].split()) for word in phrase.split())
        return 10 ** (LOG10_THRESHOLD_PER_PHONE * phonemes)

    def reset(self) -> None:
        """Forget the stream: positions count from the next frame fed."""
        self._resampler: Any = None
        if self.sample_rate != MODEL_RATE:
            import soxr  # a voice session has begun (the kind's needs say it is installed)

            self._resampler = soxr.ResampleStream(self.sample_rate, MODEL_RATE, 1, dtype="int16")
        self._fed = 0  # input samples
        self._fed_model = 0  # samples at 16 kHz given to the decoder
        self._utterance_start = 0  # where, at 16 kHz, the decoder's frame 0 is
        if self._decoder.pid is None:
            self._decoder.start()  # its search starts with the next frame; one that cannot start fails here
        else:
            self._decoder.ask(b"", ANSWER_TIMEOUT)  # the search starts over

    def feed(self, frame: np.ndarray) -> list[StopWordHeard]:
        """Take int16 mono samples (any shape with one channel) at ``sample_rate``; return what was spotted.

        Blocks until the decoder process answers; ``DecoderProcessError`` if it fails or takes longer
        than ``ANSWER_TIMEOUT``.
        """
        samples = np.ascontiguousarray(frame, dtype=np.int16).reshape(-1)
        self._fed += len(samples)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        if not len(samples):
            return []
        start, self._fed_model = self._fed_model, self._fed_model + len(samples)  # counted even if the ask fails
        if self._decoder.pid is None:  # not running (closed, or failed): the next one searches from this chunk
            self._utterance_start = start
        answer = self._decoder.ask(samples.tobytes(), ANSWER_TIMEOUT + len(samples) / MODEL_RATE)
        if not answer:
            return []
        heard = []
        for line in answer.splitlines():
            phrase, end_frame = line.rsplit("\t", 1)
            heard.append(StopWordHeard(self._names.get(phrase, phrase), self._to_input(int(end_frame) + 1), self._fed))
        self._utterance_start = self._fed_model  # the search started over, so that each phrase is reported once
        return heard

    @property
    def pid(self) -> int | None:
        """The decoder process's id while it runs."""
        return self._decoder.pid

    def close(self) -> None:
        """End the decoder process; a ``feed`` after this starts another, whose search starts there."""
        self._decoder.close()

    def _to_input(self, end_frame: int) -> int:
        position = self._utterance_start + end_frame * FRAME_SAMPLES
        return min(self._fed, math.floor(position * self.sample_rate / MODEL_RATE))
