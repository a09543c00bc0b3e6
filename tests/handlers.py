"""Handlers the test suite registers (tests/settings.py): small, with known output."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Iterator

import numpy as np

from rtcstream import (
    AdditionalOutputs,
    AsyncStreamHandler,
    CloseStream,
    Stream,
    StreamHandler,
    VideoStreamHandler,
    Warning,
    WebRTCData,
    WebRTCError,
    get_current_context,
    wait_for_item,
)
from rtcstream.handlers.reply_on_pause import ReplyOnPause
from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords
from tests.who_handlers import where


class EchoHandler(StreamHandler):
    """Send back what it hears, times the gain from the first input (default 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: collections.deque = collections.deque(maxlen=50)

    def receive(self, frame):
        self.frames.append(frame)

    def emit(self):
        if not self.frames:
            return None
        rate, samples = self.frames.popleft()
        gain = float(self.inputs[0]) if self.inputs else 1.0
        return rate, np.clip(samples.astype(np.float32) * gain, -32768, 32767).astype(np.int16)

    def copy(self):
        return EchoHandler()


class PositionalEchoHandler(EchoHandler):
    """The echo, constructed the way FastRTC's signature lays it out: ``super().__init__(expected_layout,
    output_sample_rate, output_frame_size, input_sample_rate)``, positionally (its gemini example's style)."""

    def __init__(self) -> None:
        StreamHandler.__init__(self, "mono", 24000, 480, 16000)
        self.frames = collections.deque(maxlen=50)
        self.rates: set[int] = set()

    def receive(self, frame):
        if frame[0] not in self.rates:
            self.rates.add(frame[0])
            self.send_message("rate", rate=frame[0])
        super().receive(frame)

    def copy(self):
        return PositionalEchoHandler()


class SharedEchoHandler(EchoHandler):
    """The echo with a mistake: copy() returns the handler itself, so every session would run one object."""

    def copy(self):
        return self


class KeptEchoHandler(EchoHandler):
    """The echo with a subtler mistake: copy() makes one new handler, then returns that one every time."""

    kept: EchoHandler | None = None

    def copy(self):
        if KeptEchoHandler.kept is None:
            KeptEchoHandler.kept = EchoHandler()
        return KeptEchoHandler.kept


class AsyncEchoHandler(AsyncStreamHandler):
    """The async twin of EchoHandler, at 24 kHz in."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=24000)
        self.frames: collections.deque = collections.deque(maxlen=50)
        self.started = False

    async def start_up(self):
        self.started = True
        self.send_message("ready", rate=self.input_sample_rate)

    async def receive(self, frame):
        self.frames.append(frame)

    async def emit(self):
        return self.frames.popleft() if self.frames else None

    def copy(self):
        return AsyncEchoHandler()


# Which handlers' shutdown() ran, one entry per call (tests/test_stream_handler_semantics.py).
SHUT_DOWN: list[str] = []


class AsyncShutdownEcho(AsyncEchoHandler):
    """AsyncEchoHandler with a shutdown() that is a coroutine and takes a moment: it is awaited."""

    async def shutdown(self):
        await asyncio.sleep(0.05)
        SHUT_DOWN.append("async def")

    def copy(self):
        return AsyncShutdownEcho()


class PlainShutdownEcho(AsyncEchoHandler):
    """AsyncEchoHandler with a plain shutdown(), as the base class declares it."""

    def shutdown(self):
        SHUT_DOWN.append("def")

    def copy(self):
        return PlainShutdownEcho()


class LevelHandler(StreamHandler):
    """Mode 'send': publish the level of every 10th frame as an output."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.pending: collections.deque = collections.deque(maxlen=10)

    def receive(self, frame):
        self.count += 1
        if self.count % 10 == 0:
            rms = float(np.sqrt(np.mean(frame[1].astype(np.float64) ** 2)))
            self.pending.append(AdditionalOutputs(self.count, round(rms, 1)))

    def emit(self):
        return self.pending.popleft() if self.pending else None

    def copy(self):
        return LevelHandler()


class BurstHandler(StreamHandler):
    """Publish 300 numbered outputs as fast as emit is called, then nothing."""

    total = 300

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def receive(self, frame):
        pass

    def emit(self):
        if self.sent >= self.total:
            return None
        self.sent += 1
        return AdditionalOutputs(self.sent, {"square": self.sent**2})

    def copy(self):
        return BurstHandler()


class FailingHandler(StreamHandler):
    """Raise on the 25th received frame."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def receive(self, frame):
        self.count += 1
        if self.count == 25:
            raise RuntimeError("boom at frame 25")

    def emit(self):
        return None

    def copy(self):
        return FailingHandler()


class ClosingHandler(StreamHandler):
    """Echo 10 frames, then end the session with CloseStream."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def receive(self, frame):
        self.count += 1

    def emit(self):
        return CloseStream("done after 10 frames") if self.count >= 10 else None

    def copy(self):
        return ClosingHandler()


def tone(frequency: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * frequency * t) * 0.5 * 32767).astype(np.int16)


def tones(seconds: float = 2.0, frequency: float = 440.0) -> Iterator[tuple[int, np.ndarray]]:
    """Receive-mode audio: ``seconds`` of a tone in chunks of uneven lengths and two sample rates."""
    produced, i = 0.0, 0
    lengths = (0.013, 0.25, 0.1, 0.047)
    while produced < seconds - 1e-9:
        length = min(lengths[i % len(lengths)], seconds - produced)
        rate = 24000 if i % 2 else 16000
        t = (np.arange(int(round(length * rate))) / rate) + produced
        yield rate, (np.sin(2 * np.pi * float(frequency) * t) * 0.5 * 32767).astype(np.int16).reshape(1, -1)
        produced += length
        i += 1


def long_tone(seconds: float = 60.0) -> Iterator[tuple[int, np.ndarray]]:
    """Receive-mode audio made far faster than real time, in one-second chunks."""
    for second in range(int(seconds)):
        yield 48000, tone(440.0 + second, 1.0, 48000).reshape(1, -1)


async def async_tones(seconds: float = 1.0) -> Iterator[tuple[int, np.ndarray]]:
    for rate, chunk in tones(seconds):
        yield rate, chunk


def invert(frame: np.ndarray, mode: str = "invert") -> np.ndarray:
    """Video: invert the colours, or pass the frame through when mode is 'identity'."""
    return frame if mode == "identity" else 255 - frame


def video_garbage(frame: np.ndarray, kind: str = "wide") -> np.ndarray:
    """Video: return what ``kind`` names instead of a frame: wider than a video encoder takes, float, or flat."""
    if kind == "wide":
        return np.zeros((2, 20000, 3), dtype=np.uint8)
    if kind == "float":
        return frame.astype(np.float32)
    return frame[:, :, 0]


class TracedFrame(np.ndarray):
    """A frame that notes where it is sliced (``who_handlers.where``): converting a handler's array crops it
    to an even size."""

    sliced_on: collections.deque[str] = collections.deque(maxlen=100)

    def __getitem__(self, key):
        TracedFrame.sliced_on.append(where())
        return super().__getitem__(key)


def traced_invert(frame: np.ndarray) -> np.ndarray:
    """Video: invert, as a TracedFrame, so a test can see on which thread the result became a VideoFrame."""
    return (255 - frame).view(TracedFrame)


async def traced_colors(count: int = 30):
    """Receive-mode video from an async generator (its own code on the loop): grey TracedFrames."""
    for _ in range(int(count)):
        yield np.full((48, 64, 3), 200, dtype=np.uint8).view(TracedFrame)


def slow_invert(frame: np.ndarray) -> np.ndarray:
    time.sleep(0.2)
    return 255 - frame


def colors(count: int = 60, fps_hint: int = 30) -> Iterator[np.ndarray]:
    """Receive-mode video: ``count`` 64x48 frames cycling red, green, blue (BGR arrays, the default order)."""
    palette = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]
    for i in range(int(count)):
        frame = np.zeros((48, 64, 3), dtype=np.uint8)
        frame[:] = palette[(i // 10) % 3]
        yield frame


def channel_means(frame: np.ndarray):
    """Video: pass the frame through, and publish the mean of each channel as the function sees it."""
    return frame, AdditionalOutputs([round(float(v), 1) for v in frame.reshape(-1, 3).mean(axis=0)])


def bad_video(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32)


def bad_video_with_outputs(frame: np.ndarray):
    """Video: a frame the encoder cannot take, beside outputs that are fine."""
    return frame.astype(np.float32), AdditionalOutputs("seen", frame.shape[1])


def label_outputs(*values):
    """on_additional_outputs hook: label each value."""
    return [{"label": "level", "value": v} for v in values]


class HangingHandler(StreamHandler):
    """receive() blocks for 3 s on the 5th frame (beyond the test's call timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def receive(self, frame):
        self.count += 1
        if self.count == 5:
            time.sleep(3)

    def emit(self):
        return None

    def copy(self):
        return HangingHandler()


class GarbageHandler(StreamHandler):
    """emit() returns what the first input names: a wrong dtype, shape or type."""

    def receive(self, frame):
        self.got = True

    def emit(self):
        if not getattr(self, "got", False):
            return None
        kind = self.inputs[0] if self.inputs else "dtype"
        if kind == "dtype":
            return 48000, np.zeros((1, 960), dtype=np.uint8)
        if kind == "shape":
            return 48000, np.zeros((3, 3, 3), dtype=np.int16)
        return "not audio"

    def copy(self):
        return GarbageHandler()


def echo_utterance(audio):
    """ReplyOnPause reply: report what was heard, then play it back in 100 ms chunks."""
    from tests.speech import energy_onset

    rate, samples = audio
    yield AdditionalOutputs({"seconds": samples.shape[1] / rate, "onset": energy_onset(samples[0], rate) / rate})
    for start in range(0, samples.shape[1], rate // 10):
        yield rate, samples[:, start : start + rate // 10]


def long_tone_reply(audio):
    """ReplyOnPause reply: 6 s of 440 Hz, in 100 ms chunks at 24 kHz, made as fast as asked."""
    for _ in range(60):
        yield 24000, tone(440.0, 0.1, 24000).reshape(1, -1)


def echo_in_one_chunk(audio):
    """The README's echo: the whole utterance back, as one chunk."""
    yield audio


class EnergyVAD:
    """A site's own VAD (``ReplyOnPause(model=...)``): speech is a 32 ms window louder than -40 dBFS. It takes a
    millisecond a window, and notes each thread it runs in (``threads``, shared by its copies)."""

    sample_rate = 16000
    window_samples = 512

    def __init__(self, threads: set[int] | None = None, gate: threading.Event | None = None) -> None:
        self.threads = set() if threads is None else threads
        self.gate = gate

    def process(self, window: np.ndarray) -> float:
        self.threads.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait()  # a VAD that hangs until a test opens its gate
        time.sleep(0.001)
        return 1.0 if float(np.sqrt(np.mean(np.square(window)))) > 0.01 else 0.0

    def reset(self) -> None:
        pass

    def copy(self) -> EnergyVAD:
        return EnergyVAD(self.threads, self.gate)


class RaisingVAD(EnergyVAD):
    """A site's VAD that fails: its model is gone."""

    def process(self, window: np.ndarray) -> float:
        raise RuntimeError("the VAD's model file is gone")

    def copy(self) -> RaisingVAD:
        return RaisingVAD()


class LyingVAD(EnergyVAD):
    """A site's VAD that answers something that is not a probability."""

    def process(self, window: np.ndarray) -> float:
        return "yes"  # type: ignore[return-value]

    def copy(self) -> LyingVAD:
        return LyingVAD()


ENERGY_VAD = EnergyVAD()
HUNG_VAD_GATE = threading.Event()

reply_echo = ReplyOnPause(echo_utterance)
reply_echo_energy = ReplyOnPause(echo_utterance, model=ENERGY_VAD)
reply_echo_hung_vad = ReplyOnPause(echo_utterance, model=EnergyVAD(gate=HUNG_VAD_GATE))
reply_echo_raising_vad = ReplyOnPause(echo_utterance, model=RaisingVAD())
reply_echo_lying_vad = ReplyOnPause(echo_utterance, model=LyingVAD())
reply_once = ReplyOnPause(echo_in_one_chunk)
reply_tone = ReplyOnPause(long_tone_reply)
reply_tone_no_interrupt = ReplyOnPause(long_tone_reply, can_interrupt=False)
reply_smart_turn = ReplyOnPause(echo_utterance, turn_model="smart-turn")


class SlowHandler(StreamHandler):
    """receive() takes 40 ms a frame: twice real time."""

    def receive(self, frame):
        time.sleep(0.04)

    def emit(self):
        return None

    def copy(self):
        return SlowHandler()


# Opened by the tests that use BlockedHandler, so that no thread outlives them;
# in a daphne process nobody opens it: emit blocks forever.
BLOCKED_GATE = threading.Event()


class BlockedHandler(StreamHandler):
    """emit() blocks until BLOCKED_GATE opens: forever, unless a test opens it.
    It first sends the event ``emit_blocked``, so a test knows the call is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.announced = False

    def receive(self, frame):
        pass

    def emit(self):
        if not self.announced:
            self.announced = True
            self.send_message("emit_blocked")
        BLOCKED_GATE.wait()
        return None

    def copy(self):
        return BlockedHandler()


class InputTypesHandler(StreamHandler):
    """Mode 'send': publish the Python type names of the inputs whenever they change."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list | None = None

    def describe(self, value):
        return type(value).__name__

    def receive(self, frame):
        pass

    def emit(self):
        names = [self.describe(value) for value in self.inputs]
        if names == self.seen:
            return None
        self.seen = names
        return AdditionalOutputs(names)

    def copy(self):
        return type(self)()


class TriggerHandler(StreamHandler):
    """Mode 'send': on trigger_response, publish the name of the thread it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: collections.deque = collections.deque(maxlen=4)

    def receive(self, frame):
        pass

    def trigger_response(self):
        self.pending.append(AdditionalOutputs(threading.current_thread().name))

    def emit(self):
        return self.pending.popleft() if self.pending else None

    def copy(self):
        return TriggerHandler()


class StateHandler(StreamHandler):
    """Mode 'send': the page's inputs are (state list, ...). Each new set of inputs gives
    AdditionalOutputs(state + [next number] while it has fewer than 3, the inputs with their
    Python type names). The page writes the state back into its input, which sends it again."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list | None = None

    def receive(self, frame):
        pass

    def emit(self):
        inputs = list(self.inputs)
        if not inputs or inputs == self.seen:
            return None
        self.seen = inputs
        state = inputs[0]
        grown = [*state, len(state) + 1] if isinstance(state, list) and len(state) < 3 else state
        return AdditionalOutputs(grown, {"inputs": inputs, "types": [type(v).__name__ for v in inputs]})

    def copy(self):
        return StateHandler()


def wake_echo_utterance(audio):
    """ReplyOnStopWords reply: report what was heard after the phrase, then play it back."""
    yield from echo_utterance(audio)


reply_on_wake = ReplyOnStopWords(wake_echo_utterance, ["computer"])


def reply_to_data(data: WebRTCData, *inputs):
    """ReplyOnPause reply on an entry with "text": True: say what arrived, then a short tone."""
    rate, samples = data.audio
    yield AdditionalOutputs(
        {
            "type": type(data).__name__,
            "textbox": data.textbox,
            "seconds": samples.shape[1] / rate,
            "webrtc_id": data.webrtc_id,
            "inputs": list(inputs),
        }
    )
    yield 24000, tone(660.0, 0.3, 24000).reshape(1, -1)


reply_with_text = ReplyOnPause(reply_to_data)


class TextStreamHandler(StreamHandler):
    """Mode 'send', "text": True: on each submitted text (FastRTC's set_args + trigger_response), publish
    latest_args[0]'s type and textbox and the thread trigger_response ran on ("first" is answered slowly)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: collections.deque = collections.deque(maxlen=8)

    def receive(self, frame):
        pass

    def trigger_response(self):
        stream = self.latest_args[0]
        if stream.textbox == "first":
            time.sleep(0.3)  # a slow answer: a text sent meanwhile must wait its turn, not overtake it
        self.pending.append(AdditionalOutputs(type(stream).__name__, stream.textbox, threading.current_thread().name))

    def emit(self):
        return self.pending.popleft() if self.pending else None

    def copy(self):
        return TextStreamHandler()


class MessagesHandler(StreamHandler):
    """Mode 'send': on the first frame, an event, FastRTC-style JSON text and plain text, through
    send_message and send_message_sync."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = False

    def receive(self, frame):
        if not self.sent:
            self.sent = True
            self.send_message("plain_event", n=1)
            self.send_message('{"type": "log", "data": "pause_detected"}')
            self.send_message_sync("just text")

    def emit(self):
        return None

    def copy(self):
        return MessagesHandler()


class AsyncMessagesHandler(AsyncStreamHandler):
    """The async twin of MessagesHandler: FastRTC's `await self.send_message(...)`."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = False

    async def receive(self, frame):
        if not self.sent:
            self.sent = True
            await self.send_message("plain_event", n=1)
            await self.send_message('{"type": "log", "data": "pause_detected"}')
            self.send_message_sync("just text")

    async def emit(self):
        return None

    def copy(self):
        return AsyncMessagesHandler()


class AskingHandler(StreamHandler):
    """Mode 'send': on each trigger, ask the page for its inputs (wait_for_args_sync, in the pool) and
    publish whether they came and what they are."""

    def __init__(self) -> None:
        super().__init__()
        self.asks = 0
        self.lock = threading.Lock()

    def receive(self, frame):
        pass

    def trigger_response(self):
        with self.lock:
            self.asks += 1

    def emit(self):
        with self.lock:
            if not self.asks:
                return None
            self.asks -= 1
        arrived = self.wait_for_args_sync(timeout=3.0)
        return AdditionalOutputs(arrived, list(self.inputs), threading.current_thread().name)

    def copy(self):
        return AskingHandler()


class AsyncAskingHandler(AsyncStreamHandler):
    """The async twin of AskingHandler: `await self.wait_for_args()` on the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.asks = 0

    async def receive(self, frame):
        pass

    def trigger_response(self):
        self.asks += 1

    async def emit(self):
        if not self.asks:
            return None
        self.asks -= 1
        arrived = await self.wait_for_args(timeout=3.0)
        return AdditionalOutputs(arrived, list(self.inputs), threading.current_thread().name)

    def copy(self):
        return AsyncAskingHandler()


class PeriodicAskingHandler(AskingHandler):
    """AskingHandler that also asks by itself, every second of audio: nothing on the page prompts it."""

    def receive(self, frame):
        self.frames = getattr(self, "frames", 0) + 1
        if self.frames % 50 == 0:
            self.trigger_response()

    def copy(self):
        return PeriodicAskingHandler()


# -- the ledger and recordings (tests/test_ledger.py, tests/test_recording.py) --------------------------


def failing_reply(audio):
    """ReplyOnPause reply that raises before it yields anything."""
    raise RuntimeError("the reply broke")
    yield  # a generator


def short_greeting():
    """ReplyOnPause startup_fn: 0.3 s of 660 Hz before anyone speaks."""
    yield 24000, tone(660.0, 0.3, 24000).reshape(1, -1)


def transcript_echo(audio):
    """ReplyOnPause reply: a transcript line (a chat message), the utterance played back, a plain string."""
    rate, samples = audio
    yield AdditionalOutputs({"role": "user", "content": f"{samples.shape[1] / rate:.1f} seconds of speech"})
    for start in range(0, samples.shape[1], rate // 10):
        yield rate, samples[:, start : start + rate // 10]
    yield AdditionalOutputs("played it back")


reply_fails = ReplyOnPause(failing_reply)
reply_greeting = ReplyOnPause(echo_utterance, startup_fn=short_greeting)
reply_transcript = ReplyOnPause(transcript_echo)


def reply_with_words_for_the_visitor(data: WebRTCData):
    """ReplyOnPause on a text entry, in the worker pool: "warn" warns the visitor and goes on ("warn:words"
    warns in those words); "fail" raises
    WebRTCError; each answer names the session as get_current_context() gives it."""
    webrtc_id = get_current_context().webrtc_id
    if data.textbox == "fail":
        raise WebRTCError("No credits left: top up to go on.")
    if data.textbox == "warn":
        Warning("Your microphone is very quiet.")
    elif data.textbox.startswith("warn:"):
        Warning(data.textbox.removeprefix("warn:"))
    yield AdditionalOutputs({"heard": data.textbox, "webrtc_id": webrtc_id})


reply_with_warnings = ReplyOnPause(reply_with_words_for_the_visitor)


class AsyncWarningHandler(AsyncStreamHandler):
    """Warns from the event loop as it starts, then sends nothing."""

    async def start_up(self) -> None:
        Warning("Started on the loop.")

    async def receive(self, frame) -> None:
        pass

    async def emit(self):
        return await wait_for_item(asyncio.Queue())

    def copy(self) -> AsyncWarningHandler:
        return AsyncWarningHandler()


# FastRTC's user guide (docs/userguide/video.md), its imports changed: VideoStreamHandler.
def process_image(image):
    time.sleep(0.2)  # slower than the camera: frames are skipped, not queued
    return np.flip(image, axis=0)


skip_frames_stream = Stream(
    handler=VideoStreamHandler(process_image, skip_frames=True), modality="video", mode="send-receive"
)


def sixty_frames_a_second(count: int = 90):
    """Receive mode: ``count`` 64x48 frames, grey levels rising, at the VideoStreamHandler's 60 fps."""
    for i in range(count):
        yield np.full((48, 64, 3), (i * 2) % 256, dtype=np.uint8)


fps_stream = Stream(handler=VideoStreamHandler(sixty_frames_a_second, fps=60), modality="video", mode="receive")


class NotJSONLevelHandler(LevelHandler):
    """Mode 'send': a level meter. Its 10th frame's level is a number; its 20th's is what the first input
    names: ``nan`` (the RMS of an empty chunk), ``inf``, ``-inf``, ``numpy-nan``, or ``object`` (no JSON value)."""

    LEVELS = {
        "nan": float("nan"),  # float(np.sqrt(np.mean(empty ** 2))), without numpy's warnings
        "inf": float("inf"),
        "-inf": float("-inf"),
        "numpy-nan": np.float32("nan"),
        "object": object(),
    }

    def receive(self, frame):
        self.count += 1
        if self.count == 10:
            self.pending.append(AdditionalOutputs(self.count, {"level": 0.5, "peak": 1.0}))
        elif self.count == 20:
            level = self.LEVELS[self.inputs[0] if self.inputs else "nan"]
            self.pending.append(AdditionalOutputs(self.count, {"level": level, "peak": 1.0}))

    def copy(self):
        return NotJSONLevelHandler()


class NotJSONEventHandler(MessagesHandler):
    """Mode 'send': on the first frame, an event whose level is NaN, then an event ``after``."""

    def receive(self, frame):
        if not self.sent:
            self.sent = True
            self.send_message("level", level=float("nan"))
            self.send_message("after", n=1)

    def copy(self):
        return NotJSONEventHandler()
