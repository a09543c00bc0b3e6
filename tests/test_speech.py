"""rtcstream.speech: FastRTC's get_stt_model() and get_tts_model(), with engines whose models come
with a package (PocketSphinx's wheel, Debian's espeak-ng), heard on recordings of real people."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import signal
import sys
import time

import numpy as np
import psutil
import pytest
import soxr

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.speech import EspeakTTSOptions, SpeechModelUnavailable, get_stt_model, get_tts_model
from rtcstream.speech.decoder_process import DecoderProcess, DecoderProcessError, spotting, transcription
from rtcstream.speech.stt import PocketSphinxSTT, to_model_input
from rtcstream.speech.tts import EspeakTTS, sentences
from tests import speech, speech_real
from tests.lifecycle import assert_nothing_left
from tests.loop_ticks import while_ticking
from tests.polling import wait_for

RATE = speech_real.RATE


@pytest.fixture(autouse=True)
def _engines():
    speech.require_espeak()


def alsa(name: str) -> np.ndarray:
    """One of alsa-utils' channel names, a woman's voice, as float32 at 16 kHz."""
    path = speech_real.ALSA_DIR / f"{name}.wav"
    if not path.exists():
        speech_real.missing("alsa-utils' sounds (/usr/share/sounds/alsa)")
    return speech_real.decode(path)


def asterisk(name: str) -> np.ndarray:
    path = speech_real.ASTERISK_DIR / f"{name}.g722"
    if not path.exists():
        speech_real.missing("asterisk-core-sounds-en-g722")
    return speech_real.decode(path, "g722")


def test_the_words_of_real_people_in_any_shape_a_handler_has():
    model = get_stt_model()
    busy = asterisk("all-circuits-busy-now")  # "All circuits are busy now."
    assert model.stt((RATE, busy)) == "all circuits are busy now"
    # What a handler gets from the browser: int16 (1, n) at 48 kHz; and a stereo (2, n) float at 44.1 kHz.
    at_48k = (soxr.resample(busy, RATE, 48000) * 32767).astype(np.int16).reshape(1, -1)
    assert model.stt((48000, at_48k)) == "all circuits are busy now"
    right = soxr.resample(alsa("Front_Right"), RATE, 44100)
    assert model.stt((44100, np.stack([right, right]))) == "front right"
    assert model.stt((RATE, np.zeros(RATE, dtype=np.float32))) == ""


async def test_transcribing_leaves_the_loop_free():
    """PocketSphinx holds the GIL while it decodes: in the server's process a transcription, however
    threaded, stalled the event loop (a second for six seconds of speech). Its own process does not."""
    model = get_stt_model()
    speech = np.concatenate([asterisk("all-circuits-busy-now")] * 4)
    ticking = await while_ticking(asyncio.to_thread(model.stt, (RATE, speech)))
    assert ticking.result.count("busy") >= 3, ticking.result
    assert ticking.share >= 0.3  # the loop ran the ticker throughout the decoding


def test_a_decoder_process_that_dies_or_hangs_costs_one_utterance_at_most():
    model = PocketSphinxSTT()
    busy = (RATE, asterisk("all-circuits-busy-now"))
    try:
        (first,) = model.decoders.pids
        os.kill(first, signal.SIGKILL)  # between utterances: the next starts a new process
        psutil.Process(first).wait(10)
        assert model.stt(busy) == "all circuits are busy now"
        (second,) = model.decoders.pids
        assert second != first
        os.kill(second, signal.SIGSTOP)  # hangs: the utterance in it fails in time, the next gets a new one
        with pytest.raises(DecoderProcessError, match="did not take the utterance in time"):
            long = np.tile(to_model_input(busy), 10)  # more than its pipe holds: the sending must not block either
            model.decoders.decode(long.tobytes(), timeout=1.0)
        assert not psutil.pid_exists(second)  # killed and reaped
        assert model.stt(busy) == "all circuits are busy now"
        (third,) = model.decoders.pids
    finally:
        model.close()
    assert not psutil.pid_exists(third)
    assert model.decoders.pids == []


def test_utterances_that_come_together_are_decoded_side_by_side_up_to_the_pools_size():
    model = PocketSphinxSTT(processes=2)
    words = (RATE, asterisk("all-circuits-busy-now"))
    long = (RATE, np.concatenate([asterisk("all-circuits-busy-now")] * 6))
    try:
        assert len(model.decoders.pids) == 1  # one process until two utterances come together
        with concurrent.futures.ThreadPoolExecutor(3) as threads:
            first = threads.submit(model.stt, long)
            wait_for(lambda: model.decoders.busy == 1, 10, "the first utterance taken")
            second = threads.submit(model.stt, long)  # the first is busy: a second process starts
            wait_for(lambda: model.decoders.busy == 2, 10, "the second utterance taken")
            third = threads.submit(model.stt, words)  # both busy, and two is the most: it waits for one
            assert first.result(60).count("busy") >= 5 and second.result(60).count("busy") >= 5
            assert third.result(60) == "all circuits are busy now"
        assert len(model.decoders.pids) == 2
        pids = model.decoders.pids
    finally:
        model.close()
    assert not any(psutil.pid_exists(pid) for pid in pids)


def test_a_decoder_process_that_cannot_start_says_so(monkeypatch):
    monkeypatch.setattr(sys, "executable", "")  # as in an embedding server with no Python program to run
    with pytest.raises(DecoderProcessError, match="speech-to-text process did not start"):
        DecoderProcess(transcription(16000)).start()


def test_a_decoder_that_cannot_load_says_why():
    with pytest.raises(
        DecoderProcessError, match="stop-word process did not start: RuntimeError: Failed to initialize PocketSphinx"
    ):
        DecoderProcess(spotting("/nonexistent/hmm", "/nonexistent/missing.dict", "/nonexistent/missing.kws")).start()


def test_a_model_nobody_holds_ends_its_process():
    model = PocketSphinxSTT()
    (pid,) = model.decoders.pids
    del model
    gc.collect()
    assert not psutil.pid_exists(pid)


def test_one_model_per_process_and_engines_it_does_not_have_are_named():
    assert get_stt_model() is get_stt_model() and get_tts_model() is get_tts_model()
    with pytest.raises(SpeechModelUnavailable, match="'pocketsphinx'.*Moonshine downloads"):
        get_stt_model("moonshine/base")
    with pytest.raises(SpeechModelUnavailable, match="'espeak-ng'.*Kokoro downloads"):
        get_tts_model("kokoro")
    with pytest.raises(SpeechModelUnavailable, match="apt-get install espeak-ng"):
        EspeakTTS("no-such-espeak")


def loud_seconds(rate: int, samples: np.ndarray) -> float:
    """How long ``samples`` are louder than -40 dBFS, in 10 ms frames."""
    frame = rate // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    return float((np.sqrt((frames**2).mean(axis=1)) > 0.01).sum() / 100)


def test_speech_whole_and_a_sentence_at_a_time():
    model = get_tts_model()
    text = "The first sentence is short. Is the second one a question? The third is not!"
    assert sentences(text) == ["The first sentence is short.", "Is the second one a question?", "The third is not!"]
    rate, whole = model.tts(text)
    assert rate == 22050 and whole.dtype == np.float32 and whole.ndim == 1
    assert 2.0 < loud_seconds(rate, whole) < 6.0
    chunks = list(model.stream_tts_sync(text))
    assert len(chunks) == 3 and all(r == rate and loud_seconds(r, c) > 0.5 for r, c in chunks)
    _, fast = model.tts(text, EspeakTTSOptions(speed=2.0))
    assert loud_seconds(rate, fast) < 0.7 * loud_seconds(rate, whole)
    # The text goes in on stdin: what looks like an option is read out, not obeyed.
    _, dash = model.tts("-v fr --help")
    assert loud_seconds(rate, dash) > 0.3
    with pytest.raises(ValueError, match="no voice 'no-such-voice'"):  # espeak-ng would use its default
        model.tts("hello", EspeakTTSOptions(voice="no-such-voice"))
    _, british = model.tts("hello", EspeakTTSOptions(voice="en-GB+f3"))  # a voice and a variant
    assert loud_seconds(rate, british) > 0.2
    with pytest.raises(ValueError, match="pitch"):
        model.tts("hello", EspeakTTSOptions(pitch=120))


def espeak_processes() -> int:
    return sum(child.name() == "espeak-ng" for child in psutil.Process().children())


async def test_the_async_stream_leaves_the_loop_free():
    model = get_tts_model()
    text = " ".join(f"This is sentence number {n}, which takes espeak a moment to say." for n in range(8))

    async def synthesis() -> list[tuple[int, np.ndarray]]:
        return [chunk async for chunk in model.stream_tts(text)]

    ticking = await while_ticking(synthesis())
    assert len(ticking.result) == 8
    assert ticking.share >= 0.3  # the loop ran the ticker throughout the synthesis


async def test_an_interrupted_stream_kills_its_synthesis_and_ends_on_a_busy_loop():
    """An interrupted reply cancels the task reading the stream: the synthesis under way is killed and
    the read ends. On a loaded server the loop's turns are slow, so espeak-ng fills its pipe between
    them and, once the reader is cancelled, output nobody reads piles up past the stream's limit,
    which pauses the pipe; on Python 3.11, Process.wait() then never returned (CPython gh-119710).
    Whether it piles up that far is a race (about one time in two here), hence several interruptions."""
    model = get_tts_model()
    for attempt in range(12):
        reading = asyncio.create_task(anext(model.stream_tts("word " * 5000)))  # seconds of synthesis
        deadline = time.monotonic() + 10
        while espeak_processes() == 0:
            assert time.monotonic() < deadline, "espeak-ng never started"
            await asyncio.sleep(0.01)
        time.sleep(0.05)  # a busy loop: each turn late
        reading.cancel()
        deadline = time.monotonic() + 10
        while not reading.done() and time.monotonic() < deadline:
            time.sleep(0.02)
            await asyncio.sleep(0)
        assert reading.done(), f"interruption {attempt + 1}: the cancelled read never ended"
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert espeak_processes() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_a_fastrtc_style_voice_echo_hears_a_person_and_answers_in_speech(asgi_app, transport):
    """tests/speech_handlers.py is FastRTC's voice pipeline with rtcstream's imports, in a real session.

    Over the websocket (PCM16 on TCP: what the handler hears is the recording) the words are
    PocketSphinx's on the file. Over WebRTC they come through Opus, and under a loaded machine
    through late packets concealed, which changes what PocketSphinx makes of them ("front center"
    came out "friend center", "all circuits are busy now" once "all thirty eight thirty is the
    aisle"): there the test asks for words, which silence never gives (the first test)."""
    words = asterisk("all-circuits-busy-now")
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), words, np.zeros(3 * RATE, np.float32)])
    at_48k = (soxr.resample(audio, RATE, 48000) * 32767).astype(np.int16)
    async with await RtcClient.connect(asgi_app, "t-speech-echo") as client:
        await client.start(audio=ArrayAudioTrack(at_48k), transport=transport)
        [output] = await client.wait_for_outputs(1, timeout=20)
        heard = output["values"][0]
        if transport == "websocket":
            assert heard == "all circuits are busy now"
        else:
            assert len(heard.split()) >= 2, heard
        await client.wait_until(lambda: client.audio.audible_seconds() > 0.5, timeout=15)
        await client.stop()
    await assert_nothing_left()
