"""Server-side state (gr.State) and JSON-valued inputs, through real sessions."""

from __future__ import annotations

import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.session.inputs import SessionInputs, StateOutputError
from tests import speech

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_the_guides_transcript_keeps_its_state_turn_after_turn(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-guide-transcript") as client:
        # The page's chatbot starts empty; its value is a JSON list.
        await client.start(audio=ArrayAudioTrack(speech.silence(30)), inputs=[[]])
        await client.wait_for_event("connected")
        for turn in range(1, 4):
            await client.trigger()
            outputs = await client.wait_for_outputs(turn, timeout=15)
            chat = outputs[-1]["values"]
            # Only the chatbot's value reaches the page: the state stays on the server.
            assert len(chat) == 1 and isinstance(chat[0], list), chat
            # The reply counts the turns from the state, which the hook updated each time.
            assert chat[0][-1]["content"].startswith(f"Turn {turn}: "), chat
            assert len(chat[0]) == turn
            # The page shows the list and sends it back as its input (a renderer's write is a change).
            await client.set_inputs(chat[0])
    # A new session starts from the initial state again.
    async with await RtcClient.connect(asgi_app, "t-guide-transcript") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)), inputs=[[]])
        await client.wait_for_event("connected")
        await client.trigger()
        chat = (await client.wait_for_outputs(1, timeout=15))[-1]["values"][0]
        assert [m["content"][:7] for m in chat] == ["Turn 1:"]


async def test_json_inputs_reach_the_handler_as_lists_and_dicts(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-inputs") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)), inputs=[[1, 2], {"a": [3]}, "text", 0.5])
        first = (await client.wait_for_outputs(1, timeout=15))[0]["values"]
        assert first == [["list", "dict", "str", "float"]]
        await client.set_inputs({"b": None}, [])
        await client.wait_until(lambda: client.outputs[-1]["values"] == [["dict", "list"]], timeout=5)


def test_state_slots_are_per_session_and_set_by_the_first_output_values():
    initial = [[]]
    one, two = SessionInputs(initial), SessionInputs(initial)
    one.set_page(["page"])
    one.values()[0].append("kept")
    assert one.values() == (["kept"], "page") and two.values() == ([],) and initial == [[]]
    assert one.take_state([["new"], "for the page"]) == ["for the page"]
    assert one.values() == (["new"], "page")
    with pytest.raises(StateOutputError, match="1 state value"):
        one.take_state([])
    assert SessionInputs().take_state([1, 2]) == [1, 2]
