"""Fixtures for the browser tests: Debian's chromium with fake media devices, driven by Playwright.

The fake microphone plays a WAV made by espeak-ng (speech, then silence, so a
reply-on-pause handler hears a pause and its reply is not talked over when the
file loops). Without chromium these tests skip, except under ``CI=true``,
where they fail: CI must not pass by running nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
SPEECH_TEXT = "Hello. What time is it?"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 48 kHz mono WAV: 0.5 s of silence, a spoken question, then 5 s of silence."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        _missing("espeak-ng and sox")
    folder = tmp_path_factory.mktemp("speech")
    raw, padded = folder / "raw.wav", folder / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), SPEECH_TEXT], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(padded), "pad", "0.5", "5"], check=True)
    return padded


@pytest.fixture(scope="session")
def site(request: pytest.FixtureRequest) -> str:
    """The base URL of a real daphne serving tests.settings (tests/conftest.py starts it)."""
    return request.getfixturevalue("daphne_server")


# Module scope: Playwright's sync API keeps an event loop in this thread while it
# runs, which would break sync Django code in the tests that come after.
@pytest.fixture(scope="module")
def browser(speech_wav: Path) -> Iterator[object]:
    """One headless chromium per module (each test gets a fresh context: a fresh profile)."""
    if not Path(CHROMIUM).exists():
        _missing(CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context) -> object:
    page = context.new_page()
    page.on("console", lambda msg: print(f"[console.{msg.type}] {msg.text}"))
    page.on("pageerror", lambda err: print(f"[pageerror] {err}"))
    return page


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot to test-output/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
