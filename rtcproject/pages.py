"""The demo site's pages: a home page and one page per user-guide example."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from .demos import assistant, audio, call, chat, fastrtc_app, stt, transcript, video, wake, who


@dataclass(frozen=True)
class Demo:
    """One demo page: the endpoint it streams and the code it shows."""

    slug: str
    title: str
    section: str  # the user guide's section, as docs/guide.md names it
    summary: str
    code: tuple[Callable[..., Any] | type | ModuleType, ...]
    context: Callable[[HttpRequest], dict[str, Any]] | None = None  # more for the page's template


DEMOS: tuple[Demo, ...] = (
    Demo(
        "talk-echo",
        "Reply on pause",
        "Audio streaming: reply on pause",
        "Speak, then pause: the server replies with your own words.",
        (audio.echo,),
    ),
    Demo(
        "websocket",
        "Over the websocket",
        "Audio over the websocket (FastRTC's `/websocket/offer`)",
        "Reply on pause with no WebRTC at all: PCM frames on the page's websocket, for networks that block UDP.",
        (audio.echo,),
    ),
    Demo(
        "phone",
        "Phone calls",
        "Phone calls (Twilio)",
        "The reply-on-pause handler answers a Twilio number: the webhook to give Twilio, and what it answers.",
        (audio.echo,),
        context=lambda request: phone_context(request),
    ),
    Demo(
        "echo",
        "Stream handler",
        "Audio streaming: stream handler",
        "A StreamHandler that sends back every frame it hears, live.",
        (audio.EchoHandler,),
    ),
    Demo(
        "generate",
        "Server-to-client audio",
        "Audio streaming: server to client",
        "Pick a number of steps and press Generate: the server plays chirps.",
        (audio.chirp, audio.generate),
    ),
    Demo(
        "edges",
        "Video in and out",
        "Video streaming: input and output",
        "Your camera through a Sobel edge detector; the slider sets the threshold.",
        (video.sobel_magnitude, video.edges),
    ),
    Demo(
        "clip",
        "Server-to-client video",
        "Video streaming: server to client",
        "Press Start: the server streams video it draws frame by frame.",
        (video.clip,),
    ),
    Demo(
        "transcript",
        "Additional outputs: transcript",
        "Additional outputs",
        "Speak in sentences: each utterance is transcribed into the list below.",
        (transcript.transcribe_turn,),
    ),
    Demo(
        "assistant",
        "Voice assistant",
        "A voice assistant",
        "Ask for the time, the date or a joke: it answers aloud and in text.",
        (assistant.respond, assistant.answer),
    ),
    Demo(
        "wake-word",
        "Wake word",
        "Reply on stop words",
        "Say “computer”, then a question, then pause: only then does the assistant answer.",
        (wake, assistant.respond),
    ),
    Demo(
        "chat",
        "Text and voice",
        "Text beside voice",
        "Type or speak: both reach the same handler, in one conversation.",
        (chat.respond,),
    ),
    Demo(
        "call",
        "Video call",
        "Audio and video together",
        "Your camera comes back with your voice level drawn on it; stop talking and a tone answers, "
        "with a bar on the video that follows it.",
        (call.ToneCall,),
    ),
    Demo(
        "fastrtc-app",
        "A FastRTC app, moved",
        "Moving a FastRTC app",
        "A FastRTC module with its Stream(...), a Slider and a Chatbot, moved with import changes only: "
        "speak and pause, and it says your words back at the slider's volume.",
        (fastrtc_app,),
    ),
    Demo(
        "greet",
        "Who is listening",
        "Handlers that know the user",
        "Log in and start: the handler greets you by name, and knows your groups.",
        (who.visitor_name, who.greet_visitor, who.answer_by_name),
    ),
    Demo(
        "quota",
        "Minutes a day",
        "Quotas",
        "A logged-in visitor's minutes for the day count down while they stream, on every page.",
        (audio.EchoHandler,),
        context=lambda request: {"standing": quota_standing(request)},
    ),
    Demo(
        "waiting-room",
        "Waiting room",
        "A waiting room",
        "One seat: open this page in a second tab, and the second visitor waits in line.",
        (audio.EchoHandler,),
    ),
    Demo(
        "recorded",
        "Recorded conversation",
        "Recordings and transcripts",
        "The voice assistant, recorded once you agree: play it back in the admin, with its transcript and turns.",
        (assistant.respond,),
    ),
)
BY_SLUG = {demo.slug: demo for demo in DEMOS}


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"demos": DEMOS})


def demo_page(request: HttpRequest, slug: str) -> HttpResponse:
    demo = BY_SLUG.get(slug)
    if demo is None:
        raise Http404(f"No demo called {slug!r}")
    context = {
        "demo": demo,
        "demos": DEMOS,
        "code": "\n\n".join(inspect.getsource(obj) for obj in demo.code),
        "stt_available": stt.available(),
        **(demo.context(request) if demo.context is not None else {}),
    }
    return render(request, f"demos/{slug}.html", context)


def phone_context(request: HttpRequest) -> dict[str, Any]:
    """The phone demo's webhook URL (the talk-echo endpoint's) and whether phone calls are on."""
    from django.urls import reverse

    from rtcstream import conf

    webhook = request.build_absolute_uri(reverse("rtcstream-twilio-incoming", args=["talk-echo"]))
    return {"webhook": webhook, "phone_on": bool(conf.get("TWILIO_AUTH_TOKEN"))}


def quota_standing(request: HttpRequest) -> Any:
    """The logged-in visitor's quota and use today (``rtcstream.admission.quotas.Standing``), or None."""
    from rtcstream.runtime import get_runtime

    if not request.user.is_authenticated:
        return None
    return get_runtime().admission.quota_standing_sync(request.user.pk)


urlpatterns = [
    path("", home, name="home"),
    path("demos/<slug:slug>/", demo_page, name="demo"),
]
