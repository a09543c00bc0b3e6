"""Words a handler has for its visitor, with FastRTC's names (rtcstream.handlers.visitor_messages), through
real sessions: ``Warning`` reaches the page and the session goes on, from a worker thread and from the
loop; ``WebRTCError`` ends the session with its message shown as written (another exception's words stay
hidden without DEBUG); ``get_current_context().webrtc_id`` is the session's id."""

from __future__ import annotations

import logging

import pytest

from rtcstream import Warning, get_current_context
from rtcstream.client import ArrayAudioTrack, RtcClient
from tests import speech
from tests.lifecycle import assert_nothing_left

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_a_warning_reaches_the_page_and_the_session_goes_on(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-visitor-words") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(30)), inputs=[])
        await client.wait_for_event("connected")
        await client.send_text("warn")
        (warned,) = await client.wait_for_outputs(1, timeout=10)
        await client.wait_until(lambda: client.warnings(), timeout=5)
        assert client.warnings() == ["Your microphone is very quiet."]
        assert warned["values"] == [{"heard": "warn", "webrtc_id": client.session["session"]}]
        await client.send_text("again")  # the session goes on
        (_, again) = await client.wait_for_outputs(2, timeout=10)
        assert again["values"][0]["heard"] == "again" and client.warnings() == ["Your microphone is very quiet."]
        assert (await client.stop())["reason"] == "client_stop"
    await assert_nothing_left()


async def test_a_warning_from_an_async_handler_on_the_loop(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-async-warning") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        await client.wait_until(lambda: client.warnings(), timeout=10)
        assert client.warnings() == ["Started on the loop."]
        assert (await client.stop())["reason"] == "client_stop"
    await assert_nothing_left()


async def test_webrtc_error_ends_the_session_with_its_words_for_the_visitor(asgi_app, settings, caplog):
    settings.DEBUG = False  # another exception's text would be hidden: this one is meant to be read
    async with await RtcClient.connect(asgi_app, "t-visitor-words") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(30)), inputs=[])
        await client.wait_for_event("connected")
        await client.send_text("fail")
        closed = await client.wait_closed(timeout=10)
        assert closed == {"type": "closed", "reason": "handler_error", "message": "No credits left: top up to go on."}
        error = next(m for m in client.messages if m["type"] == "error")
        assert (error["code"], error["message"]) == ("handler_error", "No credits left: top up to go on.")
    # The operator still gets the traceback.
    assert any(r.exc_info and "WebRTCError" in repr(r.exc_info[1].__class__) for r in caplog.records)
    await assert_nothing_left()


def test_outside_a_session_a_warning_is_logged_and_there_is_no_context(caplog):
    with caplog.at_level(logging.WARNING, logger="rtcstream.handlers"):
        Warning("nobody to tell")
    assert "nobody to tell" in caplog.text
    with pytest.raises(RuntimeError, match="No context found"):
        get_current_context()


def test_the_chat_demo_warns_about_a_sound_too_short_to_be_a_question_and_does_not_answer(caplog):
    import numpy as np

    from rtcproject.demos import chat
    from rtcstream import WebRTCData

    click = WebRTCData(webrtc_id="", textbox="", audio=(16000, np.zeros((1, 3200), dtype=np.int16)))  # 0.2 s
    with caplog.at_level(logging.WARNING, logger="rtcstream.handlers"):
        assert list(chat.respond(click)) == []
    assert "too short to make out" in caplog.text  # outside a session Warning() is logged: no page here
