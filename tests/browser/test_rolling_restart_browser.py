"""Issue 21, item 7 in Chromium: a live widget through a rolling restart of `make serve-workers`.

Two daphnes on one port (PostgreSQL and Redis of their own), DRAIN_SECONDS = 4. The
page is told the server is restarting, its session runs to the bound, and the widget
starts a new one by itself, on a worker that is up: never an error, audio again; over
WebRTC and over the websocket.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import psutil
import pytest
import requests

from tests.daphne import free_port, running
from tests.polling import wait_for
from tests.workers import live_workers, shared_engines

from .conftest import screenshot
from .widget import events, wait_state, wait_stats, widget_page

pytestmark = [pytest.mark.browser, pytest.mark.engines]

DRAIN = 4.0


def serving(url: str) -> bool:
    try:
        return requests.get(f"{url}/admin/login/", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def two_workers() -> Iterator[tuple[str, psutil.Process]]:
    with shared_engines("browser-restart-", RTCSTREAM_TEST_CAP="16", RTCSTREAM_DRAIN_SECONDS=str(DRAIN)) as env:
        port = free_port()
        command = [sys.executable, "scripts/serve_workers.py", "-n", "2", "-p", str(port), "--warmup", "2"]
        with running(command, "browser-rolling-restart", "127.0.0.1", port, env) as process:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: serving(url), 60, "the workers to answer", interval=0.1)
            yield url, psutil.Process(process.pid)


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
def test_the_widget_reconnects_through_a_rolling_restart(context, two_workers, transport):
    url, supervisor = two_workers
    old = live_workers(supervisor)
    page = widget_page(context, url, "t-echo", attrs=f'transport="{transport}"')
    page.click("#w [data-part=start]")
    wait_state(page, "listening", selector="#w")
    assert page.eval_on_selector("#w", "el => el.dataset.transport") == transport
    first = page.eval_on_selector("#w", "el => el.session")

    supervisor.send_signal(signal.SIGHUP)
    # The page hears it first: its session runs on (DRAIN_SECONDS at most).
    page.wait_for_function(
        "() => document.querySelector('#w [data-part=message]').textContent.includes('restarting')", timeout=20000
    )
    screenshot(page, "widget-server-restarting")

    def replaced() -> bool:
        alive = live_workers(supervisor)
        return len(alive) == 2 and not alive & old

    wait_for(replaced, 2 * (DRAIN + 15), "both workers to be replaced", interval=0.1)
    wait_state(page, "listening", timeout=20000, selector="#w")
    assert page.eval_on_selector("#w", "el => el.session") not in (None, first)
    assert page.eval_on_selector("#w", "el => el.dataset.transport") == transport  # the page's choice holds
    before = wait_stats(page, "s.audio.received.packets > 0", selector="#w")["audio"]["received"]["packets"]
    wait_stats(page, f"s.audio.received.packets > {before + 50}", selector="#w")  # media flows again

    seen = events(page)
    states = [e["detail"]["state"] for e in seen if e["type"] == "rtcstream:state"]
    assert "reconnecting" in states and "error" not in states, states
    assert not [e for e in seen if e["type"] in ("rtcstream:error", "rtcstream:closed")], seen
    assert page.eval_on_selector("#w", "el => el.dataset.error") is None
    # The restart notice is gone once the new session is connected.
    assert "restarting" not in page.inner_text("#w [data-part=message]")
    page.click("#w [data-part=stop]")
    wait_state(page, "idle", selector="#w")
