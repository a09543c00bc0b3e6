"""A newcomer's first site: the README's quick start, as written, in a fresh venv and a fresh project.

The wheel is built from this checkout and installed into a new venv (no system
site-packages); ``django-admin startproject mysite`` makes the project; every
``<!-- quickstart:NAME -->`` block of README.md is applied verbatim (the one
change: ``pip install rtcstream`` installs the wheel just built); then
``manage.py check`` must pass, daphne serves the site, and Chromium talks to
the README's ReplyOnPause handler and hears its words played back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import browser, pytest_generate_tests, speech_wav  # noqa: F401  (fixtures, browser_name)
from tests.browser.widget import events, record_events, wait_stats
from tests.daphne import free_port, wait_for_port

# The first run on a machine fills the wheelhouse through the package index; later runs install offline.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.chromium_only("the quick start is heard in one browser: this test's minutes go to its fresh venv"),
]

ROOT = Path(__file__).resolve().parent.parent
# Wheels of everything the fresh venv installs, so that later runs need no package index.
WHEELHOUSE = ROOT / "test-output" / "wheelhouse"
OFFLINE = ["--no-index", "--find-links", str(WHEELHOUSE)]
SNIPPET = re.compile(r"<!-- quickstart:(\w+) -->\n```\w*\n(.*?)\n```", re.DOTALL)
# Where each block goes in the project that `django-admin startproject mysite` makes.
FILES = {
    "asgi": "mysite/asgi.py",
    "handlers": "mysite/handlers.py",
    "urls": "mysite/urls.py",
    "template": "templates/talk.html",
}


def quickstart() -> dict[str, str]:
    snippets = dict(SNIPPET.findall((ROOT / "README.md").read_text()))
    assert set(snippets) == {"install", "settings", "run", *FILES}, sorted(snippets)
    return snippets


def run(command: str | list[str], cwd: Path, env: dict[str, str], timeout: float = 240) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, shell=isinstance(command, str), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def offline_first(command: list[str], cwd: Path, env: dict[str, str], needs: list[str]) -> None:
    """Run a pip command against the wheelhouse only; if it lacks something, add wheels of ``needs``, run again."""
    try:
        run(command, cwd, env)
    except AssertionError as offline:
        print(f"The wheelhouse lacks something; filling it from the package index: {offline}")
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        fill = [sys.executable, "-m", "pip", "wheel", "-q", "--find-links", str(WHEELHOUSE), "-w", str(WHEELHOUSE)]
        run([*fill, *needs], cwd, {**os.environ}, timeout=540)
        run(command, cwd, env)


def commands(block: str) -> list[str]:
    """The shell lines of a block, without comments."""
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the wheel, and the quick start's project; returns its folder and environment."""
    snippets = quickstart()
    work = tmp_path_factory.mktemp("newcomer")
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(ROOT)],
        work,
        {**os.environ},
    )
    (wheel,) = (work / "dist").glob("rtcstream-*.whl")
    run([sys.executable, "-m", "venv", str(work / "venv")], work, {**os.environ})
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{work / 'venv' / 'bin'}{os.pathsep}{env['PATH']}"
    install, model, startproject = commands(snippets["install"])
    assert install == "pip install rtcstream", install
    offline_first(["pip", "install", "-q", *OFFLINE, str(wheel)], work, env, needs=[str(wheel)])
    # ReplyOnPause's default turn model reads a file of this wheel; none of its dependencies is needed.
    assert model == "pip install --no-deps pipecat-ai==1.14.0", model
    model_wheel = model.split()[-2:]
    offline_first(["pip", "install", "-q", *OFFLINE, *model_wheel], work, env, needs=model_wheel)
    run(startproject.replace("&& cd mysite", ""), work, env)
    site = work / "mysite"
    with open(site / "mysite" / "settings.py", "a") as settings:
        settings.write("\n" + snippets["settings"] + "\n")
    for name, path in FILES.items():
        (site / path).parent.mkdir(exist_ok=True)
        (site / path).write_text(snippets[name] + "\n")
    return site, env


def test_the_quick_start_passes_its_checks_and_a_page_hears_its_words_back(project, browser):  # noqa: F811
    site, env = project
    run_lines = commands(quickstart()["run"])
    assert run_lines[-1] == "daphne mysite.asgi:application", run_lines
    for line in run_lines[:-1]:
        output = run(line, site, env)
        if line.endswith("check"):
            assert "System check identified no issues" in output, output

    port = free_port()
    log_path = site / "daphne.log"
    with open(log_path, "w") as log:
        daphne = subprocess.Popen(
            [*run_lines[-1].split()[:1], "-b", "127.0.0.1", "-p", str(port), *run_lines[-1].split()[1:]],
            cwd=site,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", port, daphne, log_path, deadline=time.monotonic() + 30)
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
            record_events(page)
            page.click("rtc-stream [data-part=start]")
            # The reply is the page's own utterance played back: real energy arrives.
            wait_stats(page, "s.audio.received.packets > 50 && s.audio.received.energy > 0.01", timeout=60000)
            names = [e["detail"]["name"] for e in events(page) if e["type"] == "rtcstream:event"]
            assert {"connected", "started_talking", "pause_detected", "response_starting"} <= set(names), names
        finally:
            context.close()
    finally:
        daphne.terminate()
        daphne.wait(timeout=15)
    log = log_path.read_text()
    assert "misconfigured" not in log and "Traceback" not in log, log


def test_the_fresh_projects_check_names_a_missing_package_and_a_missing_route(project):
    """Runs after the page test: it breaks the project on purpose."""
    site, env = project
    asgi = site / "mysite" / "asgi.py"
    asgi.write_text(asgi.read_text().replace('"websocket": ', '# "websocket": '))
    run(["pip", "uninstall", "-q", "-y", "soxr"], site, env)
    result = subprocess.run(["python", "manage.py", "check"], cwd=site, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "rtcstream.E014" in result.stderr and "websocket_urlpatterns" in result.stderr, result.stderr
    assert "'soxr' is missing" in result.stderr and "pip install rtcstream" in result.stderr, result.stderr
    assert "Fix the entry" not in result.stderr
