"""User guide › Additional Outputs: each turn, transcribe() appends a reply to the server-side state
(transformers_convo, the guide's gr.State) and to the page's chatbot (gradio_convo, the transcript's
value sent as an input); on_additional_outputs(lambda s, a: (s, a)) keeps the state on the server and
shows the chatbot. Turn after turn, the transcript grows and each reply counts the turns."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import events, wait_state, wait_stats

from .pages import closed_reasons, open_example

pytestmark = pytest.mark.browser
TURNS = 3


def test_the_transcript_and_the_state_grow_turn_after_turn(page, guide_site):
    open_example(page, guide_site, "additional-outputs")
    page.click("rtc-stream [data-part=start]")
    wait_state(page, ("listening", "hearing", "thinking"))
    # Until TURNS turns are in, or the session ends (a handler error would end it).
    page.wait_for_function(
        f"""() => document.querySelectorAll('#transcript li').length >= {TURNS}
            || (window.__rtcs || []).some((e) => e.type === 'rtcstream:closed')""",
        timeout=60000,
    )
    assert closed_reasons(page) == [], (closed_reasons(page), page.inner_text("rtc-stream"))
    replies = page.eval_on_selector_all("#transcript li .rtcs-chat-text", "items => items.map((p) => p.textContent)")
    # Turn n's reply says n: the state kept n - 1 replies; the transcript kept them all, in order.
    assert all(re.fullmatch(r"Turn \d+: heard \d+\.\d s of speech", text) for text in replies), replies
    assert [int(text.split(":")[0].split()[1]) for text in replies] == list(range(1, len(replies) + 1)), replies
    # Only the chatbot's value reaches the page: the state stays on the server.
    outputs = [e["detail"]["values"] for e in events(page) if e["type"] == "rtcstream:output"]
    assert outputs and all(len(values) == 1 for values in outputs), outputs
    s = wait_stats(page, "s.audio.sent.packets > 50")
    assert s["audio"]["received"]["packets"] == 0  # mode "send": no audio back
    screenshot(page, "guide-additional-outputs")
    page.click("rtc-stream [data-part=stop]")
