"""Fixtures of the guide's suite: the media it needs, a daphne serving tests.guide.settings, and
each browser of tests/browser/conftest.py with the guide's own microphone (``fake_mic``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import _missing, context, launch, page, parametrize_browsers  # noqa: F401
from tests.daphne import OUTPUT, serve

from . import media

SERVER_TONE_HZ = 660.0  # the pitch of audio_file.wav
SERVER_TONE_SECONDS = 0.5  # its length: one step of the server-to-client audio example


@pytest.fixture(scope="session")
def guide_media() -> Path:
    """The server's working directory, with the files the guide's examples open by name."""
    folder = OUTPUT / "guide-media"
    folder.mkdir(parents=True, exist_ok=True)
    media.write_wav(folder / "audio_file.wav", 24000, media.tone(SERVER_TONE_HZ, SERVER_TONE_SECONDS, 24000))
    media.red_clip(folder / "clip.avi")
    return folder


@pytest.fixture(scope="session")
def guide_site(guide_media: Path) -> Iterator[str]:
    with serve("tests.guide.settings", "guide", cwd=guide_media) as (url, _process):
        yield url


MIC_BEEP_HZ = 880.0  # the pitch of the microphone's beeps


@pytest.fixture(scope="package")
def fake_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone plays, looped: a spoken question, a pause, beeps, a pause.

    The question makes turns for the ReplyOnPause examples; the beeps give the echo a pitch to check.
    """
    folder = tmp_path_factory.mktemp("mic")
    try:
        question = media.speech(folder / "speech.wav", "Hello. What time is it?", 0.5, 1.5)
    except FileNotFoundError as missing:
        _missing(str(missing))
    return media.concatenate(folder / "mic.wav", question, media.beeps(folder / "beeps.wav", MIC_BEEP_HZ, count=6))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_browsers(metafunc, "package")


# One browser of each kind for the package (a launch takes seconds): package scope, not session, because
# Playwright's sync API keeps an event loop in this thread, which would break sync Django code after it.
@pytest.fixture(scope="package")
def browser(browser_name: str, fake_mic: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    with launch(request, browser_name, fake_mic, chromium_args=("--autoplay-policy=no-user-gesture-required",)) as b:
        yield b
