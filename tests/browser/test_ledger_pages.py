"""In chromium: a recorded endpoint asks before it captures, and the ledger's admin pages under a strict CSP."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from tests.daphne import OUTPUT, ROOT
from tests.polling import settled

from .conftest import screenshot
from .test_widget_robustness import WATCH_CSP, console_csp_messages, wait_phase_idle
from .widget import WIDGET, wait_state, wait_stats

pytestmark = pytest.mark.browser

DATABASE = OUTPUT / "daphne.sqlite3"  # the shared daphne's (tests/conftest.py, tests/daphne.py)

# Counts the page's captures: the consent must come before the first.
COUNT_CAPTURES = """
window.__captures = 0;
const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => { window.__captures += 1; return open(constraints); };
"""


def query(sql: str, *args: Any, timeout: float = 15.0) -> list[tuple]:
    """Rows of ``sql`` in the daphne's database, once there are some (or none by the deadline)."""

    def rows() -> list[tuple]:
        with sqlite3.connect(DATABASE, timeout=10) as db:
            return db.execute(sql, args).fetchall()

    return settled(rows, timeout=timeout)


def manage(code: str) -> None:
    """Run Python in the daphne's Django (its settings and database)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "RTCSTREAM_TEST_DB": str(DATABASE)}
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


@pytest.mark.parametrize("answer", ["consent-yes", "consent-no"])
def test_a_recorded_endpoint_asks_before_it_captures_and_records_only_with_a_yes(context, site, answer):
    context.add_init_script(WATCH_CSP)
    context.add_init_script(COUNT_CAPTURES)
    page = context.new_page()
    complaints = console_csp_messages(page)
    page.goto(f"{site}/test-pages/widget/t-echo-recorded/?csp=1")
    page.click("rtc-stream [data-part=start]")
    page.wait_for_selector("rtc-stream [data-part=consent]", state="visible")
    assert page.evaluate("() => window.__captures") == 0  # nothing captured while the question is open
    assert page.eval_on_selector(WIDGET, "el => el.dataset.state") == "connecting"
    screenshot(page, "consent-question")
    page.click(f"rtc-stream [data-part={answer}]")
    wait_state(page, "listening")
    assert page.evaluate("() => window.__captures") == 1
    assert page.is_hidden("rtc-stream [data-part=consent]")
    recording = answer == "consent-yes"
    assert page.eval_on_selector(WIDGET, "el => 'recording' in el.dataset") == recording
    assert page.is_visible("rtc-stream [data-part=recording]") == recording
    wait_stats(page, "s.audio.sent.packets > 100 && s.audio.received.packets > 100")
    session_id = page.eval_on_selector(WIDGET, "el => el.session")
    page.click("rtc-stream [data-part=stop]")
    wait_phase_idle(page)
    assert page.is_hidden("rtc-stream [data-part=recording]")
    # The ledger writes the session's minutes after its recording is stored: once they are there, so is it.
    assert query(
        "SELECT media_seconds FROM rtcstream_streamsession WHERE session_id = ? AND media_seconds > 0", session_id
    )
    stored = query("SELECT kind, seconds FROM rtcstream_recording WHERE session_id = ?", session_id, timeout=0)
    if recording:
        [(kind, seconds)] = stored
        assert kind == "audio" and seconds > 1.5
    else:
        assert stored == []
    assert page.evaluate("() => window.__violations") == [] and complaints == []


def test_stop_while_asked_records_nothing_and_captures_nothing(context, site):
    context.add_init_script(COUNT_CAPTURES)
    page = context.new_page()
    page.goto(f"{site}/test-pages/widget/t-echo-recorded/")
    page.click("rtc-stream [data-part=start]")
    page.wait_for_selector("rtc-stream [data-part=consent]", state="visible")
    page.click("rtc-stream [data-part=stop]")
    wait_phase_idle(page)
    assert page.is_hidden("rtc-stream [data-part=consent]")
    assert page.evaluate("() => window.__captures") == 0


@pytest.mark.chromium_only("page.route: Selenium cannot add a header to the server's response")
def test_the_charts_and_a_session_page_work_under_a_strict_policy(context, site):
    """The admin's ledger pages draw their charts with no script of their own: a strict CSP shows them whole."""
    manage(
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='ledger').exists() or User.objects.create_superuser('ledger', password='pw')\n"
        "from django.utils import timezone\n"
        "from rtcstream.models import StreamSession, Turn\n"
        "s, _ = StreamSession.objects.update_or_create(session_id='charted', defaults=dict(endpoint_slug='t-reply-echo', "
        "state='ended', end_reason='client_stop', ended_at=timezone.now(), media_seconds=42, turn_count=1))\n"
        "Turn.objects.update_or_create(session=s, index=1, defaults=dict(endpoint_slug='t-reply-echo', outcome='completed', "
        "cause='pause', started_at=timezone.now(), reply_latency_ms=180, pause_ms=470))\n"
    )
    from .urls import STRICT_CSP

    # The widget page's policy, plus what the admin needs: its icons, the player, and its own forms (the login).
    policy = STRICT_CSP.replace("form-action 'none'", "form-action 'self'") + "; img-src 'self' data:; media-src 'self'"

    def with_policy(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": policy})

    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    complaints = console_csp_messages(page)
    page.route(f"{site}/admin/**", with_policy)
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.fill("#id_username", "ledger")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.click("a[href$='/admin/rtcstream/sessioncharts/']")
    page.wait_for_selector("svg.rtcs-chart")
    assert page.locator("svg.rtcs-chart").count() >= 3
    assert page.locator("svg.rtcs-chart rect[data-value]").count() >= 2  # a bar, an end reason
    assert page.inner_text("[data-total=minutes]") != ""
    # The stylesheet applied (the totals are laid out in a row).
    assert page.eval_on_selector(".rtcs-totals", "el => getComputedStyle(el).display") == "flex"
    screenshot(page, "ledger-charts")
    page.goto(f"{site}/admin/rtcstream/turn/?q=charted")
    page.click("text=charted")
    page.wait_for_selector("table.rtcs-turns")
    assert page.evaluate("() => window.__violations") == [] and complaints == []
