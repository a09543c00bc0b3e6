"""The demo pages of issue 21 in Chromium: a greeting by name, the day's minutes, the waiting room."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.daphne import OUTPUT, ROOT

from .conftest import screenshot
from .widget import record_events, wait_state

pytestmark = pytest.mark.browser

PASSWORD = "demo-password"


@pytest.fixture(scope="module")
def accounts(site: str) -> None:
    """alice (group free: 5 minutes a day, one stream at once) and bob, in the database the site serves."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "RTCSTREAM_TEST_DB": str(OUTPUT / "daphne.sqlite3"),
    }
    for name in ("REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, "manage.py", "demo_accounts", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def log_in(page, site: str, username: str, then: str) -> None:
    page.goto(f"{site}/accounts/login/?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}{then}")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    record_events(page)


def conversation(page) -> list[str]:
    return page.eval_on_selector_all("#conversation li", "items => items.map(li => li.textContent)")


def test_the_greeting_page_greets_a_logged_in_user_by_name(page, site, accounts):
    log_in(page, site, "alice", "/demos/greet/")
    assert page.inner_text("[data-username]") == "alice"
    page.click("rtc-stream [data-part=start]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#conversation li')].some(li => li.textContent.includes('Hello, Alice!'))"
    )
    screenshot(page, "greet")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


def test_an_anonymous_visitor_is_asked_to_log_in(page, site):
    page.goto(f"{site}/demos/greet/")
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    assert "Log in" in page.inner_text(".account")
    page.click("rtc-stream [data-part=start]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#conversation li')].some(li => li.textContent.includes('Log in, and I will greet you'))"
    )
    page.click("rtc-stream [data-part=stop]")


def test_the_quota_page_counts_the_minutes_down_and_a_second_stream_is_refused(context, site, accounts):
    first = context.new_page()
    log_in(first, site, "alice", "/demos/quota/")
    assert "5 minutes a day" in first.inner_text("[data-quota]")
    first.click("rtc-stream [data-part=start]")
    wait_state(first, "listening")
    quota = "rtc-stream [data-part=quota]"
    first.wait_for_function(f"() => /min left today/.test(document.querySelector('{quota}').textContent)")
    left = int(first.get_attribute(quota, "data-seconds-left"))
    assert 0 < left <= 300
    first.wait_for_function(f"(left) => Number(document.querySelector('{quota}').dataset.secondsLeft) < left", arg=left)
    screenshot(first, "quota")
    # Same account, second tab: one stream at once.
    second = context.new_page()
    second.goto(f"{site}/demos/quota/")
    second.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    second.click("rtc-stream [data-part=start]")
    wait_state(second, "error")
    assert second.get_attribute("rtc-stream", "data-error") == "quota_sessions"
    assert "as many streams open as your account allows" in second.inner_text("rtc-stream [data-part=message]")
    screenshot(second, "quota-refused")
    first.click("rtc-stream [data-part=stop]")
    wait_state(first, "idle")


def test_the_waiting_room_page_shows_the_place_in_line_and_starts_when_the_seat_frees(browser, site):
    tabs = []
    for _ in range(2):  # two visitors: two browser contexts
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20000)
        tab = context.new_page()
        tab.goto(f"{site}/demos/waiting-room/")
        tab.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
        tab.evaluate(
            "() => { window.__queue = []; document.addEventListener('rtcstream:queue', (ev) => window.__queue.push(ev.detail)); }"
        )
        tabs.append(tab)
    seated, waiting = tabs
    try:
        seated.click("rtc-stream [data-part=start]")
        wait_state(seated, "listening")
        waiting.click("rtc-stream [data-part=start]")
        wait_state(waiting, "waiting")
        assert waiting.get_attribute("rtc-stream", "data-position") == "1"
        assert waiting.inner_text("rtc-stream [data-part=state-text]") == "Waiting in line"
        assert "You are next in line." in waiting.inner_text("rtc-stream [data-part=message]")
        screenshot(waiting, "waiting-room")
        seated.click("rtc-stream [data-part=stop]")
        wait_state(waiting, "listening", timeout=20000)  # started by itself when the seat freed
        assert waiting.is_hidden("rtc-stream [data-part=message]")
        queued = waiting.evaluate("() => window.__queue")
        assert queued and queued[0]["position"] == 1 and queued[0]["length"] == 1
        waiting.click("rtc-stream [data-part=stop]")
        wait_state(waiting, "idle")
    finally:
        for tab in tabs:
            tab.context.close()
