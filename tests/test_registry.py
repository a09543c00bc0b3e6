"""The handler registry and its system checks."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from rtcstream.endpoints import registry
from rtcstream.endpoints.registry import RegistryError, resolve_entry


def run_checks() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks(tags=["rtcstream"]) if not m.is_silenced()]


def test_entries_resolve_to_kinds_and_defaults():
    assert resolve_entry("a", "tests.handlers.EchoHandler").kind.name == "stream"
    assert resolve_entry("r", "tests.handlers.reply_echo").kind.name == "reply_on_pause"
    video = resolve_entry("b", "tests.handlers.invert")
    assert (video.kind.name, video.mode, video.modality) == ("video_function", "send-receive", "video")
    gen = resolve_entry("c", {"handler": "tests.handlers.colors", "modality": "video", "time_limit": 5})
    assert (gen.kind.name, gen.mode, gen.time_limit, gen.concurrency_limit) == ("generator", "receive", 5.0, None)
    assert (video.color, gen.color) == ("bgr", "bgr")  # gradio-webrtc's (OpenCV's) order
    assert resolve_entry("d", {"handler": "tests.handlers.invert", "color": "rgb"}).color == "rgb"


def test_a_decorated_generator_is_still_a_generator():
    import functools

    from rtcstream.endpoints.kinds import kind_of
    from tests.handlers import tones

    @functools.wraps(tones)
    def logged(*args):
        return tones(*args)

    assert kind_of(logged).name == "generator"


def test_an_object_whose_call_is_a_generator_is_a_generator():
    from rtcstream.endpoints.kinds import kind_of
    from tests.handlers import tones

    class Tones:
        def __call__(self, *args):
            yield from tones(*args)

    class AsyncTones:
        async def __call__(self, *args):
            yield None

    assert kind_of(Tones()).name == "generator"
    assert kind_of(AsyncTones()).name == "generator"


def test_each_session_gets_a_fresh_copy_of_a_stream_handler():
    spec = resolve_entry("a", "tests.handlers.EchoHandler")
    assert spec.new_handler() is not spec.new_handler()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("tests.handlers.Missing", "cannot import handler 'tests.handlers.Missing'"),
        ("nowhere.at.all", "cannot import handler"),
        ({"handler": "tests.handlers.invert", "mode": "receive"}, "cannot serve mode='receive'"),
        ({"handler": "tests.handlers.EchoHandler", "time_limit": -1}, "positive number"),
        ({"handler": "tests.handlers.EchoHandler", "colour": "red"}, "unknown keys"),
        ({"path": "x"}, "dotted path"),
        ({"handler": "tests.handlers.invert", "color": "yuv"}, r"\['bgr', 'rgb'\]"),
        ({"handler": "tests.handlers.EchoHandler", "state": {}}, "list of initial values"),
        ("tests.handlers.HANDLER_THAT_IS_A_NUMBER", "cannot import"),
    ],
)
def test_bad_entries_name_the_entry_and_the_problem(entry, message):
    with pytest.raises(RegistryError, match=message) as error:
        resolve_entry("broken", entry)
    assert "'broken'" in str(error.value)


def test_a_wrong_path_is_a_system_check_error_naming_name_and_path():
    with override_settings(RTCSTREAM={"HANDLERS": {"oops": "tests.handlers.Nope"}}):
        errors = run_checks()
    assert [e.id for e in errors] == ["rtcstream.E002"]
    assert "'oops'" in errors[0].msg and "tests.handlers.Nope" in errors[0].msg


def test_a_correct_registry_passes_the_checks():
    with override_settings(RTCSTREAM={"HANDLERS": {"echo": "tests.handlers.EchoHandler"}}):
        assert run_checks() == []
        assert registry.get_handler("echo").name == "echo"
        assert registry.get_handler("something-else") is None


def test_text_is_an_entry_key_of_the_kinds_that_take_it():
    assert resolve_entry("t", {"handler": "tests.handlers.reply_with_text", "text": True}).text is True
    assert resolve_entry("w", "tests.handlers.reply_on_wake").kind.name == "reply_on_stopwords"
    assert resolve_entry("s", {"handler": "tests.handlers.TextStreamHandler", "text": True}).text is True
    assert resolve_entry("r", "tests.handlers.reply_echo").text is False
    with pytest.raises(RegistryError, match="takes no text.*ReplyOnPause handler"):
        resolve_entry("g", {"handler": "tests.handlers.tones", "text": True})
    with pytest.raises(RegistryError, match="True or False"):
        resolve_entry("t", {"handler": "tests.handlers.reply_with_text", "text": "yes"})
