"""Structured inputs in real Chromium: the handler gets numbers, booleans, lists and dicts, and a
value written into an input (by an outputs renderer or by page code) is sent as an input change.

The t-state handler (tests/handlers.py) grows a list state by one item per turn up to 3 items and
reports the inputs it got with their Python types; the page renders the state back into its input.
"""

from __future__ import annotations

import json

import pytest

from .widget import Frames, widget_page

pytestmark = pytest.mark.browser

INPUTS = """
<input type="hidden" id="state" data-rtcstream-json value="[]">
<input type="number" id="count" value="3">
<input type="checkbox" id="flag" checked>
<textarea id="opts" data-rtcstream-json>{"a": [1, 2]}</textarea>
<pre id="tags" data-rtcstream-json>["x"]</pre>
<input type="text" id="name" value="7">
<pre id="seen"></pre>
"""


def seen(page) -> dict:
    text = page.inner_text("#seen")
    return json.loads(text) if text else {}


def wait_seen(page, inputs: list) -> dict:
    """Wait until the handler reports having got ``inputs``; return its report."""
    page.wait_for_function(
        "want => { const t = document.querySelector('#seen').textContent; return t && JSON.stringify(JSON.parse(t).inputs) === want; }",
        arg=json.dumps(inputs, separators=(",", ":")),
        timeout=20000,
    )
    return seen(page)


def test_inputs_arrive_as_json_and_rendered_values_are_sent_back(context, site):
    page = widget_page(
        context,
        site,
        "t-state",
        mode="send",
        attrs='inputs="#state,#count,#flag,#opts,#tags,#name" outputs="#state,#seen" render="value,json"',
        before=INPUTS,
    )
    frames = Frames(page)
    page.click("#w [data-part=start]")
    # The state goes round: the handler appends, the renderer writes the list into #state, the
    # widget sends it again, until the handler stops growing it at 3 items.
    report = wait_seen(page, [[1, 2, 3], 3, True, {"a": [1, 2]}, ["x"], "7"])
    assert report["types"] == ["list", "int", "bool", "dict", "list", "str"]
    assert page.input_value("#state") == "[1,2,3]"
    offer = next(m for _, m in frames.sent if m["type"] == "offer")
    assert offer["inputs"] == [[], 3, True, {"a": [1, 2]}, ["x"], "7"]

    # Page code that sets .value / .checked fires no event: the widget still sends the change.
    page.evaluate(
        "() => { document.querySelector('#opts').value = '{\"b\": null}'; document.querySelector('#flag').checked = false; }"
    )
    wait_seen(page, [[1, 2, 3], 3, False, {"b": None}, ["x"], "7"])
    # An element without a value: change its text, then say so with rtcstream:input.
    page.evaluate(
        """() => {
            const tags = document.querySelector('#tags');
            tags.textContent = '["x", "y"]';
            tags.dispatchEvent(new Event('rtcstream:input'));
        }"""
    )
    wait_seen(page, [[1, 2, 3], 3, False, {"b": None}, ["x", "y"], "7"])
    page.evaluate("() => { document.querySelector('#count').valueAsNumber = 4; }")
    wait_seen(page, [[1, 2, 3], 4, False, {"b": None}, ["x", "y"], "7"])
    # Writes that change nothing (the renderer writing [1,2,3] again) send nothing.
    sent = [offer["inputs"]] + [m["values"] for _, m in frames.sent if m["type"] == "inputs"]
    assert all(a != b for a, b in zip(sent, sent[1:], strict=False)), sent
    page.click("#w [data-part=stop]")
