"""Text beside voice, handler messages and fresh inputs, through real sessions (the Python client).

- An entry with ``"text": True``: the page's ``text`` message reaches the handler in the same
  session as its voice (FastRTC's textbox variant): ReplyOnPause's ``fn`` gets ``WebRTCData``
  on every turn, a stream handler reads ``latest_args[0]`` in ``trigger_response``.
- ``send_message``: an event name sends an ``event``; any other text (FastRTC's JSON strings)
  and ``send_message_sync`` send it as it is (``message``).
- ``wait_for_args``: the server sends ``send_input``, the client answers with ``inputs``; a
  timeout when it does not; sync handlers wait in the worker pool, async ones on the loop.
"""

from __future__ import annotations

import threading

import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.signalling.protocol import MAX_TEXT_CHARS
from tests import speech

pytestmark = [pytest.mark.django_db(transaction=True)]


def outputs_of(client: RtcClient) -> list[list]:
    return [m["values"] for m in client.outputs if m["type"] == "output"]


async def test_text_and_voice_reach_the_reply_function_in_one_session(asgi_app):
    speech.require_espeak()
    async with await RtcClient.connect(asgi_app, "t-text") as client:
        track = ArrayAudioTrack(speech.silence(30))
        await client.start(audio=track, inputs=[])
        await client.wait_for_event("connected")
        await client.send_text("what time is it")
        text_turn = (await client.wait_for_outputs(1, timeout=10))[0]["values"][0]
        assert text_turn == {
            "type": "WebRTCData",
            "textbox": "what time is it",
            "seconds": 0.0,  # no speech heard: an empty (1, 0) array, as FastRTC passes it
            "webrtc_id": client.session["session"],
            "inputs": [],
        }
        pause = await client.wait_for_event("pause_detected")
        assert pause["data"]["reason"] == "text"
        await client.wait_for_event("playback_done", timeout=10)  # the reply's audio was sent
        # Then the visitor speaks: a voice turn of the same session, the same function, no text.
        track.play(speech.utterance(lead=0.3, tail=1.5).samples)
        voice_turn = (await client.wait_for_outputs(2, timeout=15))[1]["values"][0]
        assert voice_turn["type"] == "WebRTCData" and voice_turn["textbox"] == ""
        assert voice_turn["seconds"] > 1.5


async def test_a_stream_handler_reads_the_text_as_latest_args_in_trigger_response(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-text-stream") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        await client.wait_for_event("connected")
        await client.send_text("first")
        await client.send_text("second")
        values = [o["values"] for o in await client.wait_for_outputs(2, timeout=10)]
        assert [v[:2] for v in values] == [["WebRTCData", "first"], ["WebRTCData", "second"]]
        assert all(v[2] != threading.main_thread().name for v in values)  # a sync handler: in the pool


async def test_text_is_refused_with_a_code_where_it_cannot_go(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-text") as client:
        await client.send_text("too early")
        assert (await client.wait_for_message("error"))["code"] == "invalid_state"
        await client.send({"type": "text", "text": "x" * (MAX_TEXT_CHARS + 1)})
        await client.wait_for_message("error", code="message_too_large")
        await client.send({"type": "text", "text": "   "})
        await client.wait_for_message("error", code="invalid_message")
        await client.send({"type": "text", "text": 3})
        await client.wait_until(lambda: len([m for m in client.messages if m["type"] == "error"]) == 4)
        assert client.messages[-1]["code"] == "invalid_message"
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        await client.wait_for_event("connected")
        await client.send_text("hello")
        error = await client.wait_for_message("error")
        assert error["code"] == "text_not_accepted" and "t-reply-echo" in error["message"]
        await client.trigger()  # the session lives on
        await client.wait_for_event("pause_detected")


@pytest.mark.parametrize("endpoint", ["t-messages", "t-async-messages"])
async def test_send_message_sends_events_and_text_as_it_is(asgi_app, endpoint):
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        event = await client.wait_for_event("plain_event", timeout=10)
        assert event["data"] == {"n": 1}
        await client.wait_until(lambda: len(client.raw_messages()) == 2, timeout=5)
        assert client.raw_messages() == ['{"type": "log", "data": "pause_detected"}', "just text"]


@pytest.mark.parametrize(("endpoint", "where"), [("t-ask", "pool"), ("t-async-ask", "loop")])
async def test_a_handler_asks_the_page_for_its_inputs_and_waits_for_them(asgi_app, endpoint, where):
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        current = ["first"]
        client.answer_inputs = lambda: current
        await client.start(audio=ArrayAudioTrack(speech.silence(20)), inputs=["stale"])
        await client.wait_for_event("connected")
        await client.trigger()
        arrived, values, thread = (await client.wait_for_outputs(1, timeout=10))[0]["values"]
        assert (arrived, values) == (True, ["first"])
        assert (thread == threading.main_thread().name) == (where == "loop")
        assert [m["type"] for m in client.messages].count("send_input") == 1
        # A page that does not answer: the handler goes on after its timeout with what it had.
        client.answer_inputs = None
        await client.trigger()
        arrived, values, _ = (await client.wait_for_outputs(2, timeout=10))[1]["values"]
        assert (arrived, values) == (False, ["first"])


async def test_a_wait_for_inputs_ends_with_its_session(asgi_app):
    from rtcstream.runtime import get_runtime

    async with await RtcClient.connect(asgi_app, "t-ask") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(20)))
        await client.wait_for_event("connected")
        await client.trigger()
        await client.wait_for_message("send_input")
        pool = get_runtime().pool

        def busy() -> int:
            return pool.stats["threads"] - pool.stats["idle"]

        assert busy() >= 1  # emit waits in a worker thread
        await client.stop()
        # Well before the handler's 3 s timeout, and before the reaper would release it: the session's
        # end answered the wait, and the call returned.
        await client.wait_until(lambda: busy() == 0, timeout=0.9)
        assert pool.stats["released"] == 0


class RecordingContext:
    """A handler's context that records what is sent."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self.session_id = "s"
        self.takes_text = True
        self.sent: list[tuple] = []

    def send_event(self, name, **data):
        self.sent.append(("event", name, data))

    def send_raw(self, text):
        self.sent.append(("message", text))

    def inputs(self):
        return ("a",)

    async def wait_for_inputs(self, timeout=None):
        return True


async def test_send_message_tells_event_names_from_text_and_may_be_awaited():
    import asyncio

    from tests.handlers import MessagesHandler

    handler = MessagesHandler()
    context = RecordingContext(asyncio.get_running_loop())
    handler.bind(context)
    await handler.send_message("ready", rate=24000)
    handler.send_message("started_talking")
    handler.send_message('{"type": "log", "data": "x"}')
    handler.send_message("two words")
    handler.send_message_sync("ready")  # the sync twin always sends the text as it is
    assert context.sent == [
        ("event", "ready", {"rate": 24000}),
        ("event", "started_talking", {}),
        ("message", '{"type": "log", "data": "x"}'),
        ("message", "two words"),
        ("message", "ready"),
    ]
    with pytest.raises(ValueError, match="event's name"):
        handler.send_message("two words", n=1)
    with pytest.raises(TypeError):
        handler.send_message_sync({"type": "log"})  # type: ignore[arg-type]
    # On an entry with "text": True, latest_args[0] is FastRTC's WebRTCData.
    handler.receive_text("hello")
    first = handler.latest_args[0]
    assert (type(first).__name__, first.textbox, first.webrtc_id) == ("WebRTCData", "hello", "s")
    assert handler.latest_args[1:] == ["a"]


async def test_wait_for_args_sync_refuses_to_block_the_event_loop():
    import asyncio

    from tests.handlers import AskingHandler

    handler = AskingHandler()
    handler.bind(RecordingContext(asyncio.get_running_loop()))
    with pytest.raises(RuntimeError, match="block the event loop"):
        handler.wait_for_args_sync()
    assert await handler.wait_for_args() is True
    assert await asyncio.to_thread(handler.wait_for_args_sync) is True  # from a thread: it waits on the loop
