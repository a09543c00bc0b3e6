"""DEBUG=False: the page gets fixed words and a code; the exception and its traceback go to the server's log."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from tests.disclosure_backends import SECRET
from tests.handlers import tone

pytestmark = [pytest.mark.django_db(transaction=True)]


async def failing_handler_error(asgi_app) -> str:
    async with await RtcClient.connect(asgi_app, "t-failing") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        error = await client.wait_for_message("error", timeout=5)
        closed = await client.wait_closed()
    assert error["code"] == closed["reason"] == "handler_error"
    assert closed["message"] == error["message"]
    return error["message"]


async def test_without_debug_a_handler_exception_stays_in_the_log(asgi_app, caplog):
    assert not settings.DEBUG
    message = await failing_handler_error(asgi_app)
    assert "boom" not in message and "RuntimeError" not in message
    assert message == "The handler failed. The server's log has the details."
    assert "boom at frame 25" in caplog.text and "Traceback" in caplog.text


@override_settings(DEBUG=True)
async def test_with_debug_the_page_sees_the_exception(asgi_app):
    assert "RuntimeError: boom at frame 25" in await failing_handler_error(asgi_app)


async def test_without_debug_a_server_failure_before_the_answer_is_a_server_error_without_its_text(asgi_app, caplog):
    with override_settings(
        RTCSTREAM={**settings.RTCSTREAM, "ADMISSION_BACKEND": "tests.disclosure_backends.BrokenDatabaseAdmission"}
    ):
        async with await RtcClient.connect(asgi_app, "t-echo") as client:
            with pytest.raises(RtcError) as refused:
                await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
    assert refused.value.code == "server_error"  # not bad_sdp: the offer was fine
    assert SECRET not in refused.value.message and "OperationalError" not in refused.value.message
    assert SECRET in caplog.text and "Traceback" in caplog.text
