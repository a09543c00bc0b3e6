"""What goes to a page is JSON (RFC 8259): no float NaN or infinity, which Python's json writes and reads
but a browser's JSON.parse throws on (the widget then drops the whole frame). A value holding one is
refused as a value JSON cannot hold at all is, with words that say where it is."""

from __future__ import annotations

import asyncio
import json
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from rtcstream import components as gr
from rtcstream import page_json
from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.client.transports import CommunicatorTransport
from rtcstream.models import StreamSession
from rtcstream.session.outputs import values_json
from rtcstream.signalling.consumers import RtcstreamConsumer
from tests.handlers import tone

ADVICE = "JSON has no NaN or infinity; send None or a number"


def non_finite(data: Any) -> list[float]:
    """The NaNs and infinities anywhere in ``data`` (what a browser's JSON.parse would have thrown on)."""
    if isinstance(data, float):
        return [] if math.isfinite(data) else [data]
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else []
    return [x for child in children for x in non_finite(child)]


# The serialiser.


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ([1, {"level": float("nan"), "peak": 1.0}], "values[1]['level'] is NaN"),
        ([np.array([0.5, np.inf])], "values[0][1] is inf"),
        ([{"levels": (0.1, np.float32("-inf"))}], "values[0]['levels'][1] is -inf"),
        ([np.float64("nan")], "values[0] is NaN"),
        ([{"a": [1, 2, {"b": float("inf")}]}, float("nan")], "values[0]['a'][2]['b'] is inf"),  # the first, in order
    ],
)
def test_outputs_refuse_nan_and_infinity_and_say_where(values, where):
    with pytest.raises(ValueError) as refused:
        values_json(values)
    assert str(refused.value) == f"{where}: {ADVICE}"


def test_outputs_still_convert_what_json_holds():
    values = [np.float32(0.5), np.array([[1, 2]]), (1, None), {"x": np.int64(3)}, 1e308, -0.0, "NaN"]
    assert json.loads(values_json(values)) == [0.5, [[1, 2]], [1, None], {"x": 3}, 1e308, -0.0, "NaN"]


def test_outputs_refuse_what_json_cannot_hold_as_before():
    with pytest.raises(TypeError, match="not JSON serializable"):
        values_json([object()])


def test_one_rule_for_every_message_to_a_page():
    message = {"type": "event", "name": "level", "data": {"level": float("nan")}}
    with pytest.raises(page_json.NotFiniteError, match=r"^message\['data'\]\['level'\] is NaN: "):
        page_json.dumps(message, name="message")
    # A NaN as a dict key is refused too, though its place reads differently.
    with pytest.raises(page_json.NotFiniteError, match="a dict key in message is NaN or infinite"):
        page_json.dumps({float("nan"): 1}, name="message")
    # Other errors are json.dumps's own.
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        page_json.dumps(looped)
    assert page_json.dumps({"a": [1.5, None]}) == json.dumps({"a": [1.5, None]})


async def test_a_socket_sends_no_frame_with_nan_in_it():
    consumer = RtcstreamConsumer()
    frames: list[str] = []

    async def send(text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        frames.append(text_data or "")

    consumer.send = send  # type: ignore[method-assign]
    with pytest.raises(ValueError, match=r"message\['data'\]\['level'\] is inf: "):
        await consumer.send_json({"type": "event", "name": "level", "data": {"level": float("inf")}})
    await consumer.send_json({"type": "event", "name": "level", "data": {"level": 0.5}})
    assert frames == ['{"type": "event", "name": "level", "data": {"level": 0.5}}']


async def test_the_python_client_reads_the_server_as_a_browser_does():
    """A NaN from the server fails the client (tests, scripts) as JSON.parse fails the widget."""
    communicator = SimpleNamespace(output_queue=asyncio.Queue())
    transport = CommunicatorTransport(communicator)
    for text in ('{"type": "pong"}', '{"type": "event", "data": {"level": NaN}}'):
        communicator.output_queue.put_nowait({"type": "websocket.send", "text": text})
    assert await transport.receive() == {"type": "pong"}
    with pytest.raises(page_json.NotFiniteError, match="NaN"):
        await transport.receive()


def test_components_put_no_nan_in_the_page():
    with pytest.raises(ValueError, match=r"Chatbot value\[0\]\['content'\] is NaN"):
        gr.Chatbot([{"role": "user", "content": float("nan")}]).messages_json()
    with pytest.raises(ValueError, match=r"JSON value\['x'\] is inf"):
        gr.JSON({"x": float("inf")}).pretty()
    with pytest.raises(ValueError, match="Dropdown choice 'none' is NaN"):
        gr.Dropdown([("none", float("nan")), ("one", 1)]).options()
    assert gr.JSON({"x": 1.5}).pretty() == '{\n  "x": 1.5\n}'


# Through a session: the page is told, and the session ends, as for any value JSON cannot hold.


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("nan", f"values[1]['level'] is NaN: {ADVICE}"),
        ("inf", f"values[1]['level'] is inf: {ADVICE}"),
        ("-inf", f"values[1]['level'] is -inf: {ADVICE}"),
        ("numpy-nan", f"values[1]['level'] is NaN: {ADVICE}"),
        ("object", "Object of type object is not JSON serializable"),  # what already happened: NaN ends the same way
    ],
)
async def test_an_output_with_nan_ends_the_session_with_words_that_say_where(asgi_app, caplog, kind, problem):
    async with await RtcClient.connect(asgi_app, "t-not-json-level") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)), inputs=[kind])
        error = await client.wait_for_message("error", timeout=10)
        assert error["code"] == "handler_error"
        assert error["message"] == (
            f"The handler failed. HandlerOutputError: AdditionalOutputs must hold JSON-serialisable values: {problem}"
        )
        closed = await client.wait_closed()
        assert closed == {"type": "closed", "reason": "handler_error", "message": error["message"]}
        # The outputs socket ends with its session; it carried the good output, and no frame with a NaN in it.
        await client.wait_until(lambda: any(m["type"] in ("end", "socket_closed") for m in client.outputs))
        assert [m["values"] for m in client.outputs if m["type"] == "output"] == [[10, {"level": 0.5, "peak": 1.0}]]
        assert non_finite(client.outputs) == []
        session_id = client.session["session"]
    assert problem in caplog.text  # the server's log says it too
    row = await StreamSession.objects.aget(session_id=session_id)
    assert (row.state, row.end_reason) == ("ended", "handler_error")


@pytest.mark.django_db(transaction=True)
async def test_an_event_with_nan_is_not_sent_and_the_log_says_where(asgi_app, caplog):
    async with await RtcClient.connect(asgi_app, "t-not-json-event") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_event("after")  # events leave in order: the NaN one was handled before it
        assert "level" not in client.events()
        assert non_finite(client.messages) == []
        assert f"message['data']['level'] is NaN: {ADVICE}" in caplog.text
        await client.stop()  # a value JSON cannot hold in an event ends nothing (as before): the session goes on
