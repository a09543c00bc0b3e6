"""A FastRTC app module moved with import changes only (rtcproject/demos/fastrtc_app.py), in the browser:
the tag renders its Slider and Chatbot beside the widget, wired to it.

``check_fastrtc_app`` is a plain function of a page and the site, so another browser's
suite can run it as it is.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import screenshot
from .widget import open_page, set_input, wait_state, wait_stats

pytestmark = pytest.mark.browser

SLIDER, CHAT = "#rtcs-fastrtc-app-0", "#rtcs-fastrtc-app-1"


def conversation(page: Any) -> list[tuple[str, str]]:
    """The chatbot's messages as shown: (role, text)."""
    items = page.eval_on_selector_all(
        f"{CHAT} li", "items => items.map((li) => [li.className, li.querySelector('.rtcs-chat-text').textContent])"
    )
    return [("user" if "rtcs-role-user" in cls else "assistant", text) for cls, text in items]


def wait_reply(page: Any, volume: str, timeout: float = 40000) -> None:
    """Wait until the chatbot's last message is a reply at ``volume``."""
    page.wait_for_function(
        "([chat, text]) => document.querySelector(chat).lastElementChild?.textContent.includes(text)",
        arg=[CHAT, f"Said back at volume {volume}, "],
        timeout=timeout,
    )


def check_fastrtc_app(page: Any, site: str, shot: str = "fastrtc-app") -> None:
    """The Stream's slider reaches the handler; its chatbot shows the conversation and sends it back."""
    open_page(page, f"{site}/demos/fastrtc-app/")
    assert page.eval_on_selector(SLIDER, "el => [el.type, el.min, el.max, el.value]") == ["range", "0", "1", "0.5"]
    assert "Volume" in page.inner_text("main") and "Talk back" in page.inner_text("rtc-stream .rtcs-label")
    set_input(page, SLIDER, "0.3")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, ("listening", "hearing", "thinking", "speaking"))
    wait_reply(page, "0.3")
    before = conversation(page)
    assert before[0][0] == "user" and before[-1][0] == "assistant"
    assert before[-1][1].endswith(f"turn {sum(role == 'user' for role, _ in before)}.")
    wait_stats(page, "s.audio.received.energy > 0.001", timeout=20000)  # the reply is heard
    screenshot(page, shot)
    # The slider moves; the next turn (the fake microphone repeats its phrase) gets the new value
    # and the conversation the page holds, and the hook's list replaces what the chatbot shows.
    set_input(page, SLIDER, "0.8")
    wait_reply(page, "0.8")
    later = conversation(page)
    assert later[: len(before)] == before
    assert later[-1][1].endswith(f"turn {sum(role == 'user' for role, _ in later)}.")
    page.click("rtc-stream [data-part=stop]")
    wait_state(page, "idle")


def test_a_moved_fastrtc_app_renders_and_works(page, site):
    check_fastrtc_app(page, site)


def check_components_give_typed_values(page: Any, site: str) -> None:
    """Each component the tag renders gives the handler its value with gradio's type; a State stays on the server."""
    from tests.stream_components import EXPECTED

    open_page(page, f"{site}/test-pages/widget/t-components/")
    page.click("rtc-stream [data-part=start]")
    # The chatbot shows the conversation it starts with.
    assert page.inner_text("#rtcs-t-components-9 .rtcs-chat-text") == "Hello"
    shown = "#rtcs-t-components-10"  # the JSON output, after the ten page inputs (the State is not one)
    handle = page.wait_for_function(
        "(selector) => { const t = document.querySelector(selector).textContent; return t && JSON.parse(t); }",
        arg=shown,
    )
    assert handle.json_value() == EXPECTED
    # An edit reaches the handler: the radio group's other button.
    page.check("#rtcs-t-components-6-0")
    page.wait_for_function(
        "(selector) => JSON.parse(document.querySelector(selector).textContent)[6][1] === 'x'", arg=shown
    )
    page.click("rtc-stream [data-part=stop]")


def test_components_give_the_handler_typed_values(page, site):
    check_components_give_typed_values(page, site)
