"""System checks that name what a newcomer's site lacks: packages, channel layer, daphne, routes, signatures."""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

import pytest
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.testing import WebsocketCommunicator
from django.core.asgi import get_asgi_application
from django.urls import re_path

from rtcstream import checks as checks_package
from rtcstream.checks import entries, serving, signatures, startup
from rtcstream.handlers import vad
from rtcstream.handlers.vad import open_session
from rtcstream.runtime import replace_runtime
from rtcstream.signalling.consumers import SignallingConsumer

# An application that mounts only the signalling route (the outputs route forgotten).
signalling_only = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([re_path(r"^ws/rtcstream/(?P<endpoint>[-\w]+)/$", SignallingConsumer.as_asgi())]),
    }
)
ORIGIN = (b"origin", b"http://testserver")
# A project's asgi.py before rtcstream was added.
http_only = ProtocolTypeRouter({"http": get_asgi_application()})


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_demo_and_test_settings_pass_every_check():
    found = startup.checks.run_checks(tags=["rtcstream"])
    assert [message for message in found if not message.is_silenced()] == []


def test_no_channel_layer_is_an_error_that_shows_the_in_memory_layer(settings):
    del settings.CHANNEL_LAYERS
    (error,) = serving.check_channel_layer()
    assert error.id == "rtcstream.E010"
    assert "channels.layers.InMemoryChannelLayer" in error.hint


def test_a_redis_layer_without_channels_redis_names_the_extra(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "channels_redis", None)
    monkeypatch.setitem(sys.modules, "channels_redis.core", None)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    (error,) = serving.check_channel_layer()
    assert error.id == "rtcstream.E011"
    assert 'pip install "rtcstream[redis]"' in error.hint


def test_the_in_memory_layer_is_a_warning_only_outside_debug(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.DEBUG = True
    assert serving.check_channel_layer() == []
    settings.DEBUG = False
    assert ids(serving.check_channel_layer()) == ["rtcstream.W010"]


def test_daphne_after_staticfiles_is_an_error_and_daphne_missing_a_warning(settings):
    apps = [a for a in settings.INSTALLED_APPS if a != "daphne"]
    settings.INSTALLED_APPS = [*apps, "daphne"]
    assert ids(serving.check_daphne_installed()) == ["rtcstream.E012"]
    settings.INSTALLED_APPS = apps
    assert ids(serving.check_daphne_installed()) == ["rtcstream.W012"]
    settings.INSTALLED_APPS = ["daphne", *apps]
    assert serving.check_daphne_installed() == []


@pytest.mark.parametrize(
    ("application", "expected", "names"),
    [
        ("tests.test_checks.http_only", ["rtcstream.E014"], "SignallingConsumer and OutputsConsumer"),
        ("tests.test_checks.signalling_only", ["rtcstream.E014"], "OutputsConsumer"),
        ("rtcproject.asgi.application", [], ""),
        (None, ["rtcstream.E013"], "ASGI_APPLICATION"),
    ],
)
def test_the_asgi_application_must_route_websockets_to_rtcstream(settings, application, expected, names):
    settings.ASGI_APPLICATION = application
    found = serving.check_websocket_routes()
    assert ids(found) == expected
    assert all(names in message.msg for message in found)


def test_with_debug_an_application_that_serves_no_static_files_is_a_warning(settings):
    settings.DEBUG = True
    settings.ASGI_APPLICATION = "tests.test_checks.http_only"
    assert ids(serving.check_websocket_routes()) == ["rtcstream.W015", "rtcstream.E014"]
    settings.ASGI_APPLICATION = "rtcproject.asgi.application"  # wraps Django in ASGIStaticFilesHandler
    assert serving.check_websocket_routes() == []
    settings.ASGI_APPLICATION = "tests.test_checks.http_only"
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "whitenoise.middleware.WhiteNoiseMiddleware"]
    assert ids(serving.check_websocket_routes()) == ["rtcstream.E014"]


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("tests.check_handlers.no_frame", "no_frame()"),
        ("tests.check_handlers.reply_without_audio", "no_audio()"),
        ("tests.check_handlers.ReceiveWithoutFrame", "receive()"),
    ],
)
def test_a_handler_that_cannot_take_what_its_mode_passes_is_an_error(settings, path, what):
    settings.RTCSTREAM = {"HANDLERS": {"wrong": path}}
    (error,) = signatures.check_handler_signatures()
    assert error.id == "rtcstream.E004"
    assert what in error.msg and "'wrong'" in error.msg


def test_handlers_that_also_take_page_inputs_pass(settings):
    settings.RTCSTREAM = {
        "HANDLERS": {
            "edges": "tests.check_handlers.frame_and_threshold",
            "echo": "tests.handlers.EchoHandler",
            "talk": "tests.handlers.reply_echo",
        }
    }
    assert signatures.check_handler_signatures() == []


def test_a_missing_dependency_is_named_with_what_to_install(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "soxr", None)
    monkeypatch.delitem(sys.modules, "tests.check_handlers_soxr", raising=False)
    settings.RTCSTREAM = {"HANDLERS": {"needs-soxr": "tests.check_handlers_soxr.handler"}}
    (error,) = entries.check_registry()
    assert "soxr" in error.msg and "'soxr' is missing" in error.hint
    assert "pip install rtcstream" in error.hint and "pip install soxr" in error.hint
    assert "Fix the entry" not in error.hint


def test_a_turn_model_whose_package_is_missing_is_named_with_what_to_install(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "pipecat", None)  # pipecat-ai, which ships Smart Turn, is not installed
    settings.RTCSTREAM = {
        "HANDLERS": {
            "smart": "tests.check_handlers.reply_with_smart_turn",
            "vad-alone": "tests.check_handlers.reply_with_the_vad_alone",
        }
    }
    (error,) = entries.check_registry()  # the handler that keeps the VAD alone needs nothing more
    assert "'smart'" in error.msg and "'pipecat'" in error.msg
    assert "pip install --no-deps pipecat-ai==1.14.0" in error.hint and 'turn_model="none"' in error.hint


def test_servers_that_run_no_checks_log_them_on_the_first_request(settings, monkeypatch, caplog):
    replace_runtime()  # a process that has not served a request yet
    del settings.CHANNEL_LAYERS
    with caplog.at_level(logging.WARNING, logger="rtcstream.checks"):
        startup._run_logged()
        startup._run_logged()
    errors = [r for r in caplog.records if r.name == "rtcstream.checks"]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    assert "rtcstream.E010" in errors[0].getMessage() and "InMemoryChannelLayer" in errors[0].getMessage()


@pytest.mark.django_db(transaction=True)
async def test_a_worker_whose_first_contact_is_a_websocket_logs_them_before_its_first_session(
    asgi_app, settings, monkeypatch, caplog
):
    """Behind a balancer, a worker may never serve a page: its first socket runs the checks (in a thread)."""
    replace_runtime()  # a process that has served nothing yet
    monkeypatch.setattr(startup, "DJANGO_RUNS_THEM", False)  # as under daphne, whatever command runs the tests
    settings.RTCSTREAM = {**settings.RTCSTREAM, "ICE_SERVER": []}  # a misspelt setting
    with caplog.at_level(logging.WARNING, logger="rtcstream.checks"):
        for _ in range(2):
            communicator = WebsocketCommunicator(asgi_app, "/ws/rtcstream/t-echo/", headers=[ORIGIN])
            assert (await communicator.connect(timeout=10))[0]
            assert (await communicator.receive_json_from(timeout=10))["type"] == "session"
            await communicator.disconnect()
    (error,) = [r for r in caplog.records if r.name == "rtcstream.checks"]
    assert "rtcstream.E007" in error.getMessage() and "'ICE_SERVERS'" in error.getMessage()


def test_a_stop_word_pocketsphinx_cannot_spot_is_named(settings):
    settings.RTCSTREAM = {"HANDLERS": {"wake": "tests.check_handlers.unknown_stop_word"}}
    (error,) = signatures.check_handler_signatures()
    assert error.id == "rtcstream.E006" and "zorblax" in error.msg and "pronunciations" in error.hint


def test_reply_on_stopwords_without_pocketsphinx_names_the_extra(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    settings.RTCSTREAM = {"HANDLERS": {"wake": "tests.check_handlers_pocketsphinx.handler"}}
    (error,) = entries.check_registry()
    assert "ReplyOnStopWords" in error.msg and "'pocketsphinx' is missing" in error.hint
    assert 'pip install "rtcstream[stopwords]"' in error.hint


def test_a_setting_rtcstream_does_not_know_is_named_with_the_one_meant(settings):
    settings.RTCSTREAM = {"HANDLERS": {}, "ICE_SERVER": []}
    (error,) = entries.check_setting_names()
    assert error.id == "rtcstream.E007" and "'ICE_SERVER'" in error.msg and "'ICE_SERVERS'" in error.hint


def test_a_voice_detector_that_cannot_load_is_named_with_why(settings, monkeypatch):
    def broken(path: str):
        raise OSError("libonnxruntime.so.1: cannot open shared object file")

    settings.RTCSTREAM = {"HANDLERS": {"talk": "tests.check_handlers.reply_with_the_vad_alone"}}  # a fresh runtime
    monkeypatch.setattr(vad, "open_session", broken)
    (error,) = signatures.check_handler_signatures()
    assert error.id == "rtcstream.E008" and "'talk'" in error.msg
    assert "OSError: libonnxruntime.so.1: cannot open shared object file" in error.msg
    assert "--force-reinstall onnxruntime" in error.hint


def test_the_check_loads_the_voice_detector_so_the_first_session_does_not(settings, monkeypatch):
    opened = []

    def counted(path: str):
        opened.append(path)
        return open_session(path)

    settings.RTCSTREAM = {"HANDLERS": {"talk": "tests.check_handlers.reply_with_the_vad_alone"}}  # a fresh runtime
    monkeypatch.setattr(vad, "open_session", counted)
    assert signatures.check_handler_signatures() == []
    assert opened == [str(vad.find_model())]
    vad.SileroVAD()  # what each new voice session makes
    assert len(opened) == 1


def test_each_check_id_names_one_problem_so_that_silencing_it_silences_no_other():
    """Django's SILENCED_SYSTEM_CHECKS takes ids: an id two checks share would hide both."""
    owners: dict[str, set[str]] = {}
    for path in Path(checks_package.__file__).parent.glob("*.py"):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.keyword) and node.arg == "id" and isinstance(node.value, ast.Constant):
                    owners.setdefault(node.value.value, set()).add(f"{path.name}:{function.name}")
    assert len(owners) >= 20  # every check found
    assert {check_id: found for check_id, found in owners.items() if len(found) > 1} == {}
