"""Settings for the test suite: the demo site plus the test handlers."""

import os

from rtcproject.settings import *  # noqa: F403
from rtcproject.settings import BASE_DIR, DATABASES, RTCSTREAM

os.makedirs(BASE_DIR / "test-output", exist_ok=True)
# One file per pytest process, so that runs side by side never share (or delete) a database.
TEST_DB = os.environ.get("RTCSTREAM_TEST_DB", str(BASE_DIR / "test-output" / f"test-{os.getpid()}.sqlite3"))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # DATABASE_URL: tests/engines.py's PostgreSQL
    DATABASES["default"]["NAME"] = TEST_DB
    DATABASES["default"]["TEST"] = {"NAME": TEST_DB}
DEBUG = False
# Recordings (tests/test_recording.py) go to a directory of this process's own.
STORAGES = {
    **STORAGES,  # noqa: F405
    "recordings": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": os.environ.get(
                "RTCSTREAM_RECORDINGS", str(BASE_DIR / "test-output" / f"recordings-{os.getpid()}")
            )
        },
    },
}
ROOT_URLCONF = "tests.browser.urls"  # the demo site, and test-only pages for the browser suite
# The suite serves one daphne process: the in-memory channel layer is right for it.
SILENCED_SYSTEM_CHECKS = ["rtcstream.W010"]

RTCSTREAM = {
    **RTCSTREAM,
    "HANDLERS": {
        **RTCSTREAM["HANDLERS"],
        "t-echo": "tests.handlers.EchoHandler",
        "t-async-echo": "tests.handlers.AsyncEchoHandler",
        "t-echo-one": {"handler": "tests.handlers.EchoHandler", "concurrency_limit": 1},
        "t-echo-timed": {"handler": "tests.handlers.EchoHandler", "time_limit": 1.5},
        "t-level": {
            "handler": "tests.handlers.LevelHandler",
            "mode": "send",
            "on_additional_outputs": "tests.handlers.label_outputs",
        },
        "t-state": {"handler": "tests.handlers.StateHandler", "mode": "send"},
        "t-burst": "tests.handlers.BurstHandler",
        "t-failing": "tests.handlers.FailingHandler",
        "t-closing": "tests.handlers.ClosingHandler",
        "t-tones": {"handler": "tests.handlers.tones", "modality": "audio"},
        "t-long-tone": {"handler": "tests.handlers.long_tone", "modality": "audio"},
        "t-async-tones": {"handler": "tests.handlers.async_tones", "modality": "audio"},
        "t-invert": "tests.handlers.invert",
        "t-slow-invert": "tests.handlers.slow_invert",
        "t-traced-invert": "tests.handlers.traced_invert",
        "t-traced-colors": {"handler": "tests.handlers.traced_colors", "modality": "video", "fps": 30},
        "t-video-garbage": "tests.handlers.video_garbage",
        "t-bad-video": "tests.handlers.bad_video",
        "t-bad-video-outputs": "tests.handlers.bad_video_with_outputs",
        "t-hanging": "tests.handlers.HangingHandler",
        "t-garbage": "tests.handlers.GarbageHandler",
        "t-reply-echo": "tests.handlers.reply_echo",
        "t-reply-energy": "tests.handlers.reply_echo_energy",
        "t-reply-hung-vad": "tests.handlers.reply_echo_hung_vad",
        "t-reply-raising-vad": "tests.handlers.reply_echo_raising_vad",
        "t-reply-lying-vad": "tests.handlers.reply_echo_lying_vad",
        "t-reply-once": "tests.handlers.reply_once",
        "t-reply-tone": "tests.handlers.reply_tone",
        "t-reply-tone-polite": "tests.handlers.reply_tone_no_interrupt",
        "t-reply-smart-turn": "tests.handlers.reply_smart_turn",
        "t-slow": "tests.handlers.SlowHandler",
        "t-guide-echo": "tests.guide.examples.stream_handler.EchoHandler",
        "t-async-shutdown": "tests.handlers.AsyncShutdownEcho",
        "t-positional-echo": "tests.handlers.PositionalEchoHandler",
        "t-plain-shutdown": "tests.handlers.PlainShutdownEcho",
        "t-shared-echo": "tests.handlers.SharedEchoHandler",
        "t-kept-echo": "tests.handlers.KeptEchoHandler",
        "t-blocked": "tests.handlers.BlockedHandler",
        "t-guide-echo-4": {"handler": "tests.guide.examples.stream_handler.EchoHandler", "concurrency_limit": 4},
        "t-colors": {"handler": "tests.handlers.colors", "modality": "video", "fps": 30},
        "t-colors-rgb": {"handler": "tests.handlers.colors", "modality": "video", "color": "rgb"},
        "t-channels": "tests.handlers.channel_means",
        "t-inputs": {"handler": "tests.handlers.InputTypesHandler", "mode": "send"},
        "t-trigger": {"handler": "tests.handlers.TriggerHandler", "mode": "send"},
        # The guide's transcript: audio.stream(ReplyOnPause(transcribe), inputs=[audio, gr.State([]), chatbot]).
        "t-guide-transcript": {
            "handler": "tests.guide.examples.additional_outputs.handler",
            "mode": "send",
            "state": [[]],
            "on_additional_outputs": "tests.guide.examples.additional_outputs.on_additional_outputs",
        },
        "t-channels-rgb": {"handler": "tests.handlers.channel_means", "color": "rgb"},
        "t-wake": "tests.handlers.reply_on_wake",
        "t-text": {"handler": "tests.handlers.reply_with_text", "text": True},
        "t-speech-echo": "tests.speech_handlers.handler",  # get_stt_model / get_tts_model (tests/test_speech.py)
        "t-visitor-words": {"handler": "tests.handlers.reply_with_warnings", "text": True},
        "t-async-warning": "tests.handlers.AsyncWarningHandler",
        "t-video-skip": "tests.handlers.skip_frames_stream",
        "t-video-fps": "tests.handlers.fps_stream",
        "t-text-stream": {"handler": "tests.handlers.TextStreamHandler", "mode": "send", "text": True},
        "t-messages": {"handler": "tests.handlers.MessagesHandler", "mode": "send"},
        "t-async-messages": {"handler": "tests.handlers.AsyncMessagesHandler", "mode": "send"},
        "t-ask": {"handler": "tests.handlers.AskingHandler", "mode": "send"},
        "t-async-ask": {"handler": "tests.handlers.AsyncAskingHandler", "mode": "send"},
        "t-ask-periodic": {"handler": "tests.handlers.PeriodicAskingHandler", "mode": "send"},
        "t-av-echo": "tests.av_handlers.AVEcho",
        "t-av-async-echo": "tests.av_handlers.AsyncAVEcho",
        "t-av-traced": "tests.av_handlers.AsyncAVTraced",
        "t-av-echo-rgb": {"handler": "tests.av_handlers.AVEcho", "color": "rgb"},
        "t-av-flash": "tests.av_handlers.FlashBeep",
        "t-components": "tests.stream_components.stream",
        # Whom a session serves (tests/test_session_info.py): each kind reports rtcstream.current_session().
        "t-who": {"handler": "tests.who_handlers.WhoHandler", "on_additional_outputs": "tests.who_handlers.who_hook"},
        "t-who-async": "tests.who_handlers.AsyncWhoHandler",
        "t-who-reply": "tests.who_handlers.who_reply_on_pause",
        "t-who-generator": {"handler": "tests.who_handlers.who_generator", "mode": "receive", "modality": "audio"},
        "t-who-video": "tests.who_handlers.who_video",
        # The waiting room (tests/test_waiting_room.py): one seat, three places in line.
        "t-wait-one": {
            "handler": "tests.handlers.EchoHandler",
            "concurrency_limit": 1,
            "when_full": "wait",
            "queue_length": 3,
            "max_wait": 60,
        },
        # The ledger and recordings (tests/test_ledger.py, tests/test_recording.py).
        "t-reply-fails": "tests.handlers.reply_fails",
        "t-reply-greeting": "tests.handlers.reply_greeting",
        "t-reply-recorded": {"handler": "tests.handlers.reply_transcript", "record": True},
        "t-echo-recorded": {"handler": "tests.handlers.EchoHandler", "record": True},
        "t-tones-recorded": {"handler": "tests.handlers.tones", "modality": "audio", "record": True},
        "t-level-recorded": {"handler": "tests.handlers.LevelHandler", "mode": "send", "record": True},
        # Values JSON has no place for: NaN, infinity, an object (tests/test_page_json.py).
        "t-not-json-level": {"handler": "tests.handlers.NotJSONLevelHandler", "mode": "send"},
        "t-not-json-event": {"handler": "tests.handlers.NotJSONEventHandler", "mode": "send"},
        # The widget's fallback to audio over the websocket, one seat (tests/browser/test_websocket_fallback.py).
        "t-reply-echo-one": {"handler": "tests.handlers.reply_echo", "concurrency_limit": 1},
    },
    "RECORDING_STORAGE": "recordings",
    "DEFAULT_CONCURRENCY_LIMIT": None,
    # The suite's ReplyOnPause sessions keep the VAD's pause alone, so their timings are the VAD's; the turn
    # model's own tests name it (tests/test_reply_on_pause_turn_model.py, the "t-reply-smart-turn" entry).
    "TURN_MODEL": "none",
    # Every test client shares 127.0.0.1, and a browser page's sockets close a moment after the page.
    "MAX_SOCKETS_PER_CLIENT": 32,
    # Phone calls from the simulated Twilio (tests/twilio_peer.py), which signs with this token.
    "TWILIO_AUTH_TOKEN": "test-twilio-auth-token",
}
