"""The browser bench's rtcstream server: the demo site (rtcproject.asgi) with the bench's hooks.

Run by ``bench/browser/run.py`` through daphne with ``bench.browser.settings``.
Before serving it:

- configures the demo's ``talk-echo`` endpoint the way a site admin would (a
  ``StreamEndpoint`` row and its handler options): the pause, the pre-roll and
  the turn model from ``BENCH_PAUSE_SECONDS``, ``BENCH_PRE_ROLL_SECONDS`` and
  ``BENCH_TURN_MODEL`` when set, and a time limit longer than the bench's
  recording;
- installs ``bench.browser.serverside`` (release log, impaired network) on
  rtcstream's ``AudioOutputTrack``, its reply log on the demo's ``echo``, and
  its call log on Smart Turn's ``predict`` (``BENCH_MODEL_LOG``).
"""

import os

from rtcproject.asgi import application  # noqa: F401  (sets Django up)
from rtcproject.demos import audio
from rtcstream.handlers.turn_model import SmartTurn
from rtcstream.media.tracks import AudioOutputTrack
from rtcstream.models import StreamEndpoint

from . import serverside


def _seconds(name: str) -> float | None:
    return float(os.environ[name]) if os.environ.get(name) else None


options = {
    "min_silence_s": _seconds("BENCH_PAUSE_SECONDS"),
    "pre_roll_s": _seconds("BENCH_PRE_ROLL_SECONDS"),
    "turn_model": os.environ.get("BENCH_TURN_MODEL") or None,
    "turn_model_pause_s": _seconds("BENCH_TURN_MODEL_PAUSE_SECONDS"),
    "turn_model_max_pause_s": _seconds("BENCH_TURN_MODEL_MAX_PAUSE_SECONDS"),
}
endpoint = StreamEndpoint(
    slug="talk-echo",
    handler="talk-echo",
    mode="send-receive",
    modality="audio",
    time_limit=600,
    handler_options={name: value for name, value in options.items() if value is not None},
)
endpoint.full_clean(exclude=["slug"])  # as the admin checks a row (the turn model's package, ...)
StreamEndpoint.objects.update_or_create(
    slug=endpoint.slug,
    defaults={
        field: getattr(endpoint, field) for field in ("handler", "mode", "modality", "time_limit", "handler_options")
    },
)
serverside.install(AudioOutputTrack, "next_frame")
if os.environ.get("BENCH_MODEL_LOG"):
    serverside.log_calls(SmartTurn, "predict", os.environ["BENCH_MODEL_LOG"])
# The demo's echo, logged: its ReplyOnPause is built on first use from the module's ``echo``.
audio.echo = serverside.wrap_reply(audio.echo)
if "reply_echo" in vars(audio):
    audio.reply_echo.fn = audio.echo
