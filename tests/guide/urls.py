"""The guide's conformance site: one page per example, at /guide/<example>/."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

PAGES = ("reply-on-pause", "stream-handler", "server-audio", "video-io", "server-video", "additional-outputs")


def page(request: HttpRequest, example: str) -> HttpResponse:
    if example not in PAGES:
        raise Http404(f"No guide example called {example!r}")
    return render(request, f"guide/{example}.html")


urlpatterns = [path("guide/<slug:example>/", page)]
