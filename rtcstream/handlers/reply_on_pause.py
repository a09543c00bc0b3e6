"""ReplyOnPause: call a generator with the user's utterance when they pause, and stop it when they talk over it.

The VAD runs inline in ``receive`` on the event loop: resampling one 20 ms
frame and the Silero windows it completes cost ~110 µs on average (5.7 ms of
CPU per second of audio measured by ``bench/vad_cost.py``, against ~50 ms for
aiortc's own audio path), about what a hop to a worker thread and back costs. A turn model (about 50 ms of
CPU a call, once per pause) never runs there: its call goes to the worker pool and its answer comes back
while ``receive`` goes on taking frames. The reply generator runs apart
from ``receive``: a sync one one ``next`` at a time in rtcstream's worker pool,
an async one on the loop, each in a producer task that fills a small bounded
queue that ``emit`` drains, so a generator never runs more than
``queue_size`` items ahead of playback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self, TypeVar

import numpy as np

from rtcstream.execution import calls
from rtcstream.execution.origin import is_rtcstreams
from rtcstream.handlers import turn_model as turn_models
from rtcstream.handlers.base import AsyncStreamHandler, EmitType
from rtcstream.handlers.turn_taking import (
    AlgoOptions,
    ShortPause,
    SileroVadOptions,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnOptions,
)
from rtcstream.handlers.webrtc_data import WebRTCData

if TYPE_CHECKING:
    from rtcstream.handlers.vad import VoiceActivityDetector

logger = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["AlgoOptions", "ReplyOnPause", "SileroVadOptions", "TurnOptions"]


_END = object()  # the reply's generator is exhausted
_EMIT_WAIT = 0.02  # how long emit may wait for an item before returning None


class Turns(Protocol):
    """What ReplyOnPause needs of the turn detector ``new_detector`` makes: a ``TurnDetector``, or one in front of it."""

    sample_rate: int

    @property
    def speaking(self) -> bool: ...

    def feed(self, samples: np.ndarray) -> list[Any]:
        """Take mono int16 audio; return the events (``SpeechStarted``, ``TurnEnded``, ...) it completes."""

    def flush(self) -> TurnEnded:
        """End the turn now with what was heard so far (an empty (1, 0) array if nothing)."""

    def discard(self) -> None:
        """Drop the utterance in progress."""

    def utterance_tail(self, seconds: float) -> np.ndarray:
        """A copy of the last ``seconds`` of the utterance in progress (what the turn model hears)."""

    def end_turn_now(self, pause: int) -> TurnEnded | None:
        """End the turn if ``pause`` (a ``ShortPause``'s) is the silence still running; else None."""


class _Failure:
    """The reply raised: ``emit`` re-raises it so the session reports a handler error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _is_audio(item: Any) -> bool:
    """True for ``(sr, array)``, ``(sr, array, layout)`` and ``((sr, array), AdditionalOutputs)``."""
    if not isinstance(item, tuple) or not item:
        return False
    if isinstance(item[0], tuple):
        return _is_audio(item[0])
    return isinstance(item[0], int | np.integer) and len(item) >= 2 and isinstance(item[1], np.ndarray)


class ReplyOnPause(AsyncStreamHandler):
    """Run ``fn((sample_rate, audio), *inputs)`` each time the user pauses; stream what it yields.

    ``fn`` is a generator or an async generator; it gets the utterance as int16
    (1, n) at ``input_sample_rate``, with ``TurnOptions.pre_roll_s`` of audio
    before the detected onset, and the page's latest additional inputs when its
    signature takes more than the audio (or ``needs_args=True``). It yields
    what any handler emits: ``(sr, array)``, ``(sr, array, "mono"|"stereo")``,
    ``AdditionalOutputs``, ``((sr, array), AdditionalOutputs)`` or ``CloseStream``.

    Events sent to the page: ``started_talking`` (``onset`` in seconds),
    ``pause_detected`` (``reason``: ``pause``, ``max_length`` or ``trigger``;
    ``duration`` in seconds; ``silence``: how long the voice had been silent
    when the pause was called, 0 unless ``reason`` is ``pause``; ``complete``, the turn model's probability, when
    the model ended the turn), ``response_starting`` (before the first audio),
    ``response_done`` (every item handed over), ``playback_done`` (the reply's
    last audio frame has been sent; right after ``response_done`` for a reply
    with no audio), ``interrupted`` (the reply was talked over: no
    ``playback_done`` follows).

    With ``can_interrupt=True`` speech that starts while a reply is producing
    or its audio is still queued stops the reply at once (the generator is
    closed, queued audio dropped, ``interrupted`` sent); the new utterance is
    kept whole. With ``can_interrupt=False`` the audio heard while a reply is
    producing or playing is discarded and forms no turn.

    FastRTC's ``algo_options`` (``AlgoOptions``) and ``model_options`` (a
    ``SileroVadOptions`` or dict: its ``threshold``) are mapped onto
    ``TurnOptions`` (see ``TurnOptions.with_algo_options``); ``turn_options``
    and keyword arguments named like its fields (``min_silence_s=0.3``, ...)
    override them. ``model`` is a ``VoiceActivityDetector`` (each session gets
    ``model.copy()``); Silero is the default. ``needs_args`` only forces
    passing the inputs: rtcstream always has the latest ones, with no round trip.

    On an entry with ``"text": True`` (FastRTC's textbox variant) ``fn`` gets
    ``WebRTCData(textbox, audio)`` in place of the audio, on every turn: text the
    page submitted starts a turn at once (``pause_detected`` with reason ``text``).

    ``turn_model`` decides, when the VAD has heard a short silence
    (``turn_model_pause_s``), whether the turn is complete: ``"smart-turn"``
    (Smart Turn v3.2; ``pip install --no-deps pipecat-ai==1.14.0``), ``"none"``
    (the VAD alone: a turn ends after ``min_silence_s``), or any ``TurnModel``
    (``rtcstream.handlers.turn_model``), shared by every session; None (the
    default) is the site's ``RTCSTREAM["TURN_MODEL"]``, itself "smart-turn"
    unless set. Complete: the reply starts at once. Incomplete: the turn ends
    when the silence reaches ``turn_model_max_pause_s``, unless the speaker
    goes on first; the reply is never held back longer. The model runs in the
    worker pool; an answer that comes after the speaker went on is dropped.
    """

    queue_size = 4  # reply items buffered ahead of the output track
    # True when rtcstream's own detector blocks while another process works (ReplyOnStopWords' spotter).
    _detection_waits: ClassVar[bool] = False

    def __init__(
        self,
        fn: Callable[..., Any],
        startup_fn: Callable[..., Any] | None = None,
        algo_options: AlgoOptions | None = None,
        model_options: Any = None,
        can_interrupt: bool = True,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int | None = None,
        input_sample_rate: int = 48000,
        model: VoiceActivityDetector | None = None,
        needs_args: bool = False,
        turn_options: TurnOptions | None = None,
        turn_model: str | turn_models.TurnModel | None = None,
        **turn_overrides: Any,
    ) -> None:
        super().__init__(
            expected_layout,
            output_sample_rate,
            output_frame_size,  # ignored, as in FastRTC
            input_sample_rate=input_sample_rate,
        )
        if model is not None and not _is_vad(model):
            raise TypeError(
                "ReplyOnPause(model=...) takes a VoiceActivityDetector (process(window) -> probability, "
                "reset(), copy(), sample_rate, window_samples); FastRTC's PauseDetectionModel is not supported."
            )
        self.turn_model_choice = _checked_turn_model(turn_model)  # None: the site's RTCSTREAM["TURN_MODEL"]
        self.fn = fn
        self.startup_fn = startup_fn
        self.algo_options = algo_options
        self.model_options = model_options
        self.can_interrupt = can_interrupt
        self.model = model
        self.needs_args = needs_args
        self.turn_options = turn_options
        self.turn_overrides = turn_overrides
        options = turn_options or TurnOptions()
        if algo_options is not None:
            options = options.with_algo_options(algo_options)
        if model_options is not None:
            options = options.with_model_options(model_options)
        try:
            self.options = TurnOptions(**{**options.__dict__, **turn_overrides})
        except TypeError:
            unknown = sorted(set(turn_overrides) - set(options.__dict__))
            raise TypeError(f"ReplyOnPause got unknown arguments {unknown}") from None
        self._fn_takes_inputs = needs_args or _takes_more_than_one(fn)
        self._detector: Turns | None = None
        # Turn detection that runs the site's code (its own VAD, or its own new_detector), or that waits on
        # another process (_detection_waits), runs in the worker pool, one call at a time; rtcstream's own
        # VAD runs on the loop (a Silero window costs about 0.14 ms).
        self._detection_in_pool = (
            model is not None or self._detection_waits or not is_rtcstreams(type(self).new_detector)
        )
        self._detection_lock = asyncio.Lock()
        self._queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(self.queue_size)
        self._generation = 0  # bumps on every reply start and interruption; stale items are dropped
        self._reply: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._was_busy = False

    def copy(self) -> Self:
        """Return a fresh instance with the same configuration (and a fresh VAD state).

        Subclasses keep their class; one whose constructor takes other
        arguments adds them to ``copy_arguments``.
        """
        return type(self)(self.fn, **self.copy_arguments())

    def copy_arguments(self) -> dict[str, Any]:
        """The keyword arguments ``copy`` passes to the constructor, after ``fn``."""
        return {
            "startup_fn": self.startup_fn,
            "algo_options": self.algo_options,
            "model_options": self.model_options,
            "can_interrupt": self.can_interrupt,
            "expected_layout": self.expected_layout,
            "output_sample_rate": self.output_sample_rate,
            "input_sample_rate": self.input_sample_rate,
            "model": self.model.copy() if self.model is not None else None,
            "needs_args": self.needs_args,
            "turn_options": self.turn_options,
            "turn_model": self.turn_model_choice,
            **self.turn_overrides,
        }

    def configure(self, **options: Any) -> None:
        """Override settings on this copy before its session starts (an endpoint's options,
        ``rtcstream.endpoints.kinds.REPLY_ON_PAUSE_OPTIONS``): ``TurnOptions`` fields, ``can_interrupt``
        and ``turn_model``.
        """
        if "can_interrupt" in options:
            self.can_interrupt = bool(options.pop("can_interrupt"))
        if "turn_model" in options:
            self.turn_model_choice = _checked_turn_model(options.pop("turn_model"))
        changes = dict(options)
        unknown = sorted(set(changes) - set(self.options.__dict__))
        if unknown:
            raise TypeError(f"ReplyOnPause.configure got unknown options {unknown}")
        self.turn_overrides = {**self.turn_overrides, **changes}
        self.options = TurnOptions(**{**self.options.__dict__, **changes})
        self._detector = None  # rebuilt with the new options on first use

    def configured(self, name: str) -> Any:
        """The value this handler runs with for ``name``, one of the options ``configure`` takes."""
        if name == "can_interrupt":
            return self.can_interrupt
        if name == "turn_model":
            return self.turn_model
        if name not in self.options.__dict__:
            raise KeyError(f"ReplyOnPause has no option {name!r}")
        return getattr(self.options, name)

    @property
    def turn_model(self) -> str | turn_models.TurnModel:
        """The turn model this handler asks: its own choice, or the site's ``RTCSTREAM["TURN_MODEL"]``."""
        if self.turn_model_choice is not None:
            return self.turn_model_choice
        from rtcstream import conf

        return _checked_turn_model(conf.get("TURN_MODEL")) or "none"

    # -- the session's calls --------------------------------------------------

    async def start_up(self) -> None:
        """Load the VAD and the turn model off the loop (the first load reads them), then play ``startup_fn``'s greeting."""
        await self._detector_at(self.input_sample_rate)
        if self.turn_model != "none":
            await calls.run_sync(self._loaded_turn_model)
        if self.startup_fn is not None:
            self._start_reply(self.startup_fn, self.inputs)

    async def receive(self, frame: tuple[int, np.ndarray]) -> None:
        """Run turn detection on one input frame and act on what it finds."""
        sample_rate, array = frame
        detector = await self._detector_at(sample_rate)
        events = await self._detect(detector.feed, self._mono(array))
        busy = self._busy()
        if self._was_busy and not busy and not self.can_interrupt and detector.speaking:
            # Half duplex: what was said over the reply is discarded.
            await self._detect(detector.discard)
            events = [event for event in events if not isinstance(event, TurnEnded)]
        self._was_busy = busy
        for event in events:
            busy = self.on_turn_event(event, busy, detector)

    def on_turn_event(self, event: Any, busy: bool, detector: Turns) -> bool:
        """Act on one event of the turn detector; ``busy``: a reply is producing or playing. Return whether one is now.

        A subclass whose ``new_detector`` reports events of its own handles them here, then calls this.
        """
        if busy and not self.can_interrupt:
            return busy
        if isinstance(event, SpeechStarted):
            self.send_message("started_talking", onset=round(event.onset_s, 3))
            if busy:
                self._interrupt()
            return False
        if isinstance(event, ShortPause):
            self._ask_turn_model(detector, event)
            return busy
        self._turn(event, "pause" if event.reason == "pause" else event.reason)
        return True

    async def emit(self) -> EmitType:
        """Return the reply's next item, waiting at most 20 ms; None when nothing is ready."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _EMIT_WAIT
        while True:
            queue = self._queue
            try:
                if queue.empty():
                    async with asyncio.timeout(max(0.0, deadline - loop.time())):
                        generation, item = await queue.get()
                else:
                    generation, item = queue.get_nowait()
            except (TimeoutError, asyncio.QueueEmpty):
                return None
            if generation != self._generation:
                continue  # left over from an interrupted reply
            if item is _END:
                self.send_message("response_done")
                if self._context is not None:
                    # Every item before _END has been handed to the output track by now.
                    self._context.after_playback(functools.partial(self._context.send_event, "playback_done"))
                continue
            if isinstance(item, _Failure):
                raise item.error
            return item

    def trigger_response(self) -> None:
        """End the turn now with the audio heard so far (empty if none) and reply to it."""
        if self._busy() and not self.can_interrupt:
            logger.info("trigger ignored: a reply is playing and can_interrupt is False")
            return
        self._spawn(self._flushed_turn("trigger"))

    def receive_text(self, text: str) -> None:
        """Reply to text the page submitted (an entry with ``"text": True``): ``fn`` gets
        ``WebRTCData(textbox=text, audio=...)`` with the speech heard so far (none: an empty array), now.

        Typed text is a deliberate request: it replaces a reply still producing or playing, whatever
        ``can_interrupt`` says of speech.
        """
        self._spawn(self._flushed_turn("text", text))

    def shutdown(self) -> None:
        """Stop the reply: cancel its producer, which closes the generator (after an in-flight ``next``)."""
        self._generation += 1
        for task in list(self._tasks):
            loop = task.get_loop()
            if loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                task.cancel()
            else:
                loop.call_soon_threadsafe(task.cancel)

    async def aclose(self) -> None:
        """Stop the reply and wait until its producer has finished (the generator closed or scheduled to)."""
        self.shutdown()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def new_detector(self, sample_rate: int) -> Turns:
        """Return this session's turn detector; override to detect turns another way.

        It is built in a worker thread (it may load a model). ReplyOnPause uses
        its ``feed(int16) -> events``, ``flush()``, ``discard()``, ``speaking``
        and ``sample_rate``; an override's ``feed``, ``flush`` and ``discard`` run
        in the worker pool, one at a time (as a VAD's ``process`` does with ``model=``).
        """
        return self.new_turn_detector(sample_rate)

    def new_turn_detector(self, sample_rate: int) -> TurnDetector:
        """Return ReplyOnPause's own turn detector (the VAD's pauses, and the turn model's short ones)."""
        vad = self.model.copy() if self.model is not None else None
        return TurnDetector(self.options, sample_rate, vad, asks_turn_model=self.turn_model != "none")

    # -- internals --------------------------------------------------------------

    async def _detector_at(self, sample_rate: int) -> Turns:
        """The session's turn detector for audio at ``sample_rate``, built in the worker pool (it may load a model)."""
        if self._detector is None or self._detector.sample_rate != sample_rate:
            self._detector = await calls.run_sync(self.new_detector, sample_rate)
        return self._detector

    async def _detect(self, method: Callable[..., T], *args: Any) -> T:
        """Call one of the turn detector's methods: on the loop if it is rtcstream's own, else in the worker
        pool, one call at a time (the site's VAD or detector may be slow, or block)."""
        if not self._detection_in_pool:
            return method(*args)
        async with self._detection_lock:
            return await calls.run_sync(method, *args, name=f"{calls.describe(method)} (turn detection)")

    async def _flushed_turn(self, reason: str, text: str = "") -> None:
        """End the turn now with what was heard so far (a trigger, typed text) and reply to it."""
        detector = await self._detector_at(self.input_sample_rate)
        self._turn(await self._detect(detector.flush), reason, text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mono(self, array: np.ndarray) -> np.ndarray:
        flat = array.reshape(-1)
        if self.expected_layout == "stereo" and array.ndim == 2 and array.shape[0] == 1:
            # Interleaved stereo (1, 2n): average the channels.
            flat = flat.reshape(-1, 2).mean(axis=1).astype(np.int16)
        elif array.ndim == 2 and array.shape[0] == 2:
            flat = array.mean(axis=0).astype(np.int16)
        return flat

    def _busy(self) -> bool:
        """True while a reply is producing, or its audio waits here or in the output track."""
        if self._reply is not None and not self._reply.done():
            return True
        if not self._queue.empty():
            return True
        return self._context is not None and self._context.output_busy()

    def _loaded_turn_model(self) -> turn_models.TurnModel:
        """The model ``turn_model`` names, loaded once per process (call it from a worker thread)."""
        model = turn_models.resolve(self.turn_model)
        assert model is not None  # "none" asks nothing
        return model

    def _ask_turn_model(self, detector: Turns, pause: ShortPause) -> None:
        """Ask the turn model about the utterance so far, in the worker pool; end the turn if it is complete."""
        model = self.turn_model
        audio = detector.utterance_tail(
            turn_models.SmartTurn.max_seconds if isinstance(model, str) else model.max_seconds
        )
        self._spawn(self._decide(detector, pause.pause, audio))

    async def _decide(self, detector: Turns, pause: int, audio: np.ndarray) -> None:
        try:
            probability = await calls.run_sync(self._predict, audio, detector.sample_rate)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("The turn model failed; the turn ends after turn_model_max_pause_s of silence")
            return
        if detector is not self._detector or probability <= self.options.turn_model_threshold:
            return
        if self._busy() and not self.can_interrupt:
            return
        turn = await self._detect(detector.end_turn_now, pause)  # None if the speaker went on meanwhile
        if turn is not None:
            self._turn(turn, "pause", complete=round(probability, 3))

    def _predict(self, audio: np.ndarray, sample_rate: int) -> float:
        model = self._loaded_turn_model()
        return float(model.predict(turn_models.to_model_input(audio, sample_rate, model)))

    def _turn(self, turn: TurnEnded, reason: str, text: str = "", **details: Any) -> None:
        silence = round(turn.silence_s, 3)
        self.send_message(
            "pause_detected", reason=reason, duration=round(turn.duration_s, 3), silence=silence, **details
        )
        if self._busy():
            self._interrupt()  # a new turn replaces the reply still producing or playing
        inputs = self.inputs if self._fn_takes_inputs else ()
        audio = (turn.sample_rate, turn.audio)
        takes_text = self._context is not None and self._context.takes_text
        stream = WebRTCData(webrtc_id=self.session_id or "", textbox=text, audio=audio) if takes_text else audio
        self._start_reply(self.fn, (stream, *inputs))

    def _interrupt(self) -> None:
        """Stop the reply now: no more items from it, queued ones dropped, played-out audio cleared."""
        self._generation += 1
        if self._reply is not None:
            self._reply.cancel()
            self._reply = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self.clear_queue()
        self.send_message("interrupted")

    def _start_reply(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._generation += 1
        task = asyncio.get_running_loop().create_task(self._produce(fn, args, self._generation))
        self._reply = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _produce(self, fn: Callable[..., Any], args: tuple[Any, ...], generation: int) -> None:
        """Pull the reply's items into the queue; the generator is closed however this ends."""
        started = False
        try:
            async with contextlib.aclosing(calls.iterate(await self._call(fn, args))) as items:
                async for item in items:
                    if not started and _is_audio(item):
                        started = True
                        self.send_message("response_starting")
                    await self._queue.put((generation, item))
            await self._queue.put((generation, _END))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._queue.put((generation, _Failure(error)))

    @staticmethod
    async def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Call ``fn``: at once if it is a generator function, in the pool otherwise (it may do work first)."""
        if calls.is_generator_function(fn):
            return fn(*args)
        return await calls.run_sync(fn, *args)


def _checked_turn_model(choice: Any) -> Any:
    """Return ``choice`` if it is None, names a built-in turn model or is a ``TurnModel``; raise otherwise."""
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in turn_models.TURN_MODELS:
            raise ValueError(f"ReplyOnPause(turn_model={choice!r}): choose one of {', '.join(turn_models.TURN_MODELS)}")
        return choice
    if not isinstance(choice, turn_models.TurnModel):
        raise TypeError(
            "ReplyOnPause(turn_model=...) takes a name (" + ", ".join(turn_models.TURN_MODELS) + ") or a TurnModel "
            "(predict(audio) -> probability that the turn is complete, sample_rate, max_seconds)."
        )
    return choice


def _is_vad(model: Any) -> bool:
    from rtcstream.handlers.vad import VoiceActivityDetector  # only a site that brings its own VAD loads this

    return isinstance(model, VoiceActivityDetector)


def _takes_more_than_one(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` takes the additional inputs after the audio."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) > 1 or any(p.kind == p.VAR_POSITIONAL for p in parameters)
