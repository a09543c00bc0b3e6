"""The demo site's pages: a home page and one page per user-guide example."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from .demos import assistant, audio, stt, transcript, video


@dataclass(frozen=True)
class Demo:
    """One demo page: the endpoint it streams and the code it shows."""

    slug: str
    title: str
    section: str  # the user guide's section, as docs/guide.md names it
    summary: str
    code: tuple[Callable[..., Any] | type, ...]


DEMOS: tuple[Demo, ...] = (
    Demo(
        "talk-echo",
        "Reply on pause",
        "Audio streaming: reply on pause",
        "Speak, then pause: the server replies with your own words.",
        (audio.echo,),
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
    }
    return render(request, f"demos/{slug}.html", context)


urlpatterns = [
    path("", home, name="home"),
    path("demos/<slug:slug>/", demo_page, name="demo"),
]
