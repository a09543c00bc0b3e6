"""Text beside voice, handler messages and fresh inputs, through the real widget in Chromium.

Each test is a plain function of a Playwright-like ``page`` and the ``site``, so it can run in
another browser too. The fake microphone says "Hello. What time is it?", then 5 s of quiet, over
and over (conftest.py).
"""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .widget import events, record_events, wait_stats

pytestmark = pytest.mark.browser


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    record_events(page)


def chat_items(page) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "#conversation li",
        "items => items.map(li => ({role: li.className, text: li.querySelector('.rtcs-chat-text').textContent}))",
    )


def test_typed_text_starts_the_stream_and_joins_the_spoken_conversation(page, site):
    """On the demo page: Send with no session starts one and the text goes once the media is up;
    the reply is heard; then the microphone's question is a voice turn of the same conversation."""
    open_page(page, f"{site}/demos/chat/")
    page.fill("rtc-stream [data-part=text-input]", "what time is it")
    page.click("rtc-stream [data-part=text-send]")
    assert page.input_value("rtc-stream [data-part=text-input]") == ""
    page.wait_for_function("() => document.querySelectorAll('#conversation li').length >= 2", timeout=30000)
    first, answer = chat_items(page)[:2]
    assert "rtcs-role-user" in first["role"] and first["text"] == "what time is it"
    assert "rtcs-role-assistant" in answer["role"] and answer["text"].startswith("It is ")
    wait_stats(page, "s.audio.received.energy > 0.01", timeout=20000)  # the answer, spoken
    # The fake microphone's question: a voice turn, answered in the same list.
    page.wait_for_function("() => document.querySelectorAll('#conversation li').length >= 4", timeout=40000)
    items = chat_items(page)
    assert ["user" in i["role"] for i in items[:4]] == [True, False, True, False]
    assert items[2]["text"] != "what time is it"
    pauses = [
        e["detail"]["data"]["reason"]
        for e in events(page)
        if e["type"] == "rtcstream:event" and e["detail"]["name"] == "pause_detected"
    ]
    assert pauses[0] == "text" and "pause" in pauses[1:]
    screenshot(page, "chat")


def test_the_widget_answers_a_handler_that_asks_for_its_inputs(page, site):
    """The handler asks every second (send_input); the widget answers with the value the input has
    now, although the page changed it without any event (so nothing else would have sent it)."""
    open_page(page, f"{site}/test-pages/widget/t-ask-periodic/?inputs=%23level")
    page.evaluate("() => document.querySelector('main').insertAdjacentHTML('afterbegin', '<input id=level value=one>')")
    page.click("rtc-stream [data-part=start]")
    page.wait_for_function(
        """() => (window.__rtcs || []).some((e) => e.type === 'rtcstream:output' && e.detail.values[1][0] === 'one')""",
        timeout=20000,
    )
    page.evaluate("() => { document.querySelector('#level').value = 'two'; }")  # no input or change event
    page.wait_for_function(
        """() => (window.__rtcs || []).some((e) => e.type === 'rtcstream:output' && e.detail.values[1][0] === 'two')""",
        timeout=10000,
    )
    answered = [e["detail"]["values"] for e in events(page) if e["type"] == "rtcstream:output"]
    assert all(arrived for arrived, _, _ in answered)  # every ask was answered within its timeout


def test_handler_messages_reach_the_page_as_events_and_as_they_were_sent(page, site):
    open_page(page, f"{site}/test-pages/widget/t-messages/")
    page.click("rtc-stream [data-part=start]")
    page.wait_for_function(
        "() => (window.__rtcs || []).filter((e) => e.type === 'rtcstream:message').length >= 2", timeout=20000
    )
    seen = [e["detail"] for e in page.evaluate("() => window.__rtcs") if e["type"] == "rtcstream:message"]
    assert [m["data"] for m in seen] == ['{"type": "log", "data": "pause_detected"}', "just text"]
    plain = [
        e["detail"] for e in events(page) if e["type"] == "rtcstream:event" and e["detail"]["name"] == "plain_event"
    ]
    assert plain == [{"name": "plain_event", "data": {"n": 1}}]


def test_the_handlers_warning_and_error_are_shown_to_the_visitor(page, site):
    """rtcstream.Warning: the page shows the words as a warning and the stream goes on; WebRTCError: the
    stream ends and the page shows its words as written (the site runs without DEBUG)."""
    open_page(page, f"{site}/test-pages/widget/t-visitor-words/?text=1")
    page.evaluate(
        "() => { window.__warnings = []; document.addEventListener('rtcstream:warning', (ev) => window.__warnings.push(ev.detail.message)); }"
    )
    page.evaluate("() => document.querySelector('rtc-stream').setMuted(true)")  # typed turns only
    page.click("rtc-stream [data-part=start]")
    page.wait_for_function("() => document.querySelector('rtc-stream').dataset.state === 'listening'", timeout=30000)
    page.fill("rtc-stream [data-part=text-input]", "warn")
    page.click("rtc-stream [data-part=text-send]")
    message = "rtc-stream [data-part=message]"
    page.wait_for_function(
        "(s) => document.querySelector(s).textContent === 'Your microphone is very quiet.'", arg=message, timeout=20000
    )
    assert page.eval_on_selector(message, "el => el.dataset.level") == "warning"
    assert page.evaluate("() => window.__warnings") == ["Your microphone is very quiet."]
    # The stream goes on: the turn that warned ends ("thinking" until its reply is done) and the page listens.
    page.wait_for_function("() => document.querySelector('rtc-stream').dataset.state === 'listening'", timeout=20000)
    assert not [e for e in events(page) if e["type"] in ("rtcstream:error", "rtcstream:closed")]
    page.fill("rtc-stream [data-part=text-input]", "fail")
    page.click("rtc-stream [data-part=text-send]")
    page.wait_for_function("() => document.querySelector('rtc-stream').dataset.state === 'error'", timeout=20000)
    assert page.inner_text(message) == "No credits left: top up to go on."
    closed = [e["detail"] for e in events(page) if e["type"] == "rtcstream:closed"]
    assert closed == [{"reason": "handler_error", "message": "No credits left: top up to go on."}]
