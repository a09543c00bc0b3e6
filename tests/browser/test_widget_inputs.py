"""Structured inputs in real Chromium: the handler gets numbers, booleans, lists and dicts, and a
value written into an input (by an outputs renderer, or by page code that says so with an event)
is sent as an input change, without the widget touching the elements (React tracks their values).

The t-state handler (tests/handlers.py) grows a list state by one item per turn up to 3 items and
reports the inputs it got with their Python types; the page renders the state back into its input.
"""

from __future__ import annotations

import json

import pytest

from .widget import MARKUP, Frames, record_events, widget_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.chromium_only(
        "page.on('websocket'): the inputs are read from the messages sent, which Selenium does not show"
    ),
]

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

    # Page code that sets .value / .checked fires no event by itself: it dispatches `input` or
    # `rtcstream:input` (which need not bubble) to say so.
    page.evaluate(
        """() => {
            const opts = document.querySelector('#opts');
            opts.value = '{"b": null}';
            opts.dispatchEvent(new Event('input', {bubbles: true}));
            const flag = document.querySelector('#flag');
            flag.checked = false;
            flag.dispatchEvent(new Event('rtcstream:input'));
        }"""
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
    page.evaluate(
        "() => { const n = document.querySelector('#count'); n.valueAsNumber = 4; n.dispatchEvent(new Event('rtcstream:input')); }"
    )
    wait_seen(page, [[1, 2, 3], 4, False, {"b": None}, ["x", "y"], "7"])
    # Writes that change nothing (the renderer writing [1,2,3] again) send nothing.
    sent = [offer["inputs"]] + [m["values"] for _, m in frames.sent if m["type"] == "inputs"]
    assert all(a != b for a, b in zip(sent, sent[1:], strict=False)), sent
    page.click("#w [data-part=stop]")


# React's inputValueTracking (react-dom's inputValueTracking.js), as React installs it on each input
# it renders: an own `value` (`checked` for a checkbox) property whose setter records the value, so
# that React's root listener can tell a user's edit (node value != recorded) from its own writes.
# __track returns false where React would not track: the node already has such an own property.
# __changes gets what React's onChange would see. __fire is React Testing Library's fireEvent.input:
# __write (the prototype's setter, past the tracker), then an InputEvent.
REACT = """
window.__descriptors = {};
window.__changes = [];
window.__track = (node) => {
  const field = node.type === "checkbox" || node.type === "radio" ? "checked" : "value";
  const descriptor = Object.getOwnPropertyDescriptor(node.constructor.prototype, field);
  let current = "" + node[field];
  if (Object.prototype.hasOwnProperty.call(node, field) || typeof descriptor?.get !== "function" || typeof descriptor?.set !== "function") {
    return false;
  }
  const { get, set } = descriptor;
  Object.defineProperty(node, field, {
    configurable: true,
    get() { return get.call(this); },
    set(value) { current = "" + value; set.call(this, value); },
  });
  Object.defineProperty(node, field, { enumerable: descriptor.enumerable });
  node._valueTracker = { getValue: () => current, setValue: (value) => { current = "" + value; } };
  window.__descriptors[node.id] = Object.getOwnPropertyDescriptor(node, field);
  return true;
};
const changed = (ev) => {
  const node = ev.target, tracker = node._valueTracker;
  if (!tracker) return;
  const next = node.type === "checkbox" ? String(node.checked) : node.value;
  if (next !== tracker.getValue()) { tracker.setValue(next); window.__changes.push(next); }
};
for (const type of ["input", "change", "click"]) document.addEventListener(type, changed);
window.__write = (node, value) => Object.getOwnPropertyDescriptor(Object.getPrototypeOf(node), "value").set.call(node, value);
window.__fire = (node, value) => {
  window.__write(node, value);
  node.dispatchEvent(new InputEvent("input", { bubbles: true, cancelable: false, composed: true }));
};
// Whether the tracked nodes still have exactly the own properties React gave them.
window.__untouched = () => Object.entries(window.__descriptors).every(([id, mine]) => {
  const node = document.getElementById(id);
  const field = node.type === "checkbox" ? "checked" : "value";
  const own = Object.getOwnPropertyDescriptor(node, field);
  const names = Object.getOwnPropertyNames(node).filter((name) => name !== "_valueTracker");
  return own && own.set === mine.set && own.get === mine.get && names.length === 1 && names[0] === field;
});
"""

REACT_INPUTS = """
<input type="text" id="name" value="a">
<input type="checkbox" id="flag" checked>
<button type="button" id="again">Again</button>
<pre id="sink"></pre><pre id="seen"></pre>
"""


@pytest.mark.parametrize("first", ["react", "widget"])
def test_inputs_react_tracks_keep_their_own_value_property(context, site, first):
    """The widget reads inputs by events and at the offer and the trigger, and never redefines
    `value` / `checked` on them: React's tracker, installed before or after the widget binds, stays."""
    context.add_init_script(REACT)
    page = context.new_page()
    page.on("console", lambda msg: print(f"[console.{msg.type}] {msg.text}"))
    page.goto(site)
    page.wait_for_function("() => customElements.get('rtc-stream') !== undefined")
    track = "() => ['name', 'flag'].map((id) => window.__track(document.getElementById(id)))"
    insert = "html => document.querySelector('main').insertAdjacentHTML('afterbegin', html)"
    widget = MARKUP.format(
        id="w",
        slug="t-state",
        mode="send",
        path="/ws/rtcstream/t-state/",
        attrs='inputs="#name,#flag" trigger="#again" outputs="#sink,#seen" render="text,json"',
    )
    if first == "react":
        page.evaluate(insert, REACT_INPUTS)
        assert page.evaluate(track) == [True, True]
        page.evaluate(insert, widget)  # the widget binds to the tracked inputs
    else:
        page.evaluate(insert, REACT_INPUTS + widget)  # the widget binds, then React renders
        assert page.evaluate(track) == [True, True], "the widget took the `value` / `checked` property"
    record_events(page)
    assert page.evaluate("() => window.__untouched()")
    frames = Frames(page)

    # A value written without any event (past the tracker, as a framework may) is read at the offer.
    page.evaluate("() => window.__write(document.getElementById('name'), 'b')")
    page.click("#w [data-part=start]")
    wait_seen(page, ["b", True])
    offer = next(m for _, m in frames.sent if m["type"] == "offer")
    assert offer["inputs"] == ["b", True]

    # A user's edit as React Testing Library fires it: React's onChange and the handler both see it.
    page.evaluate("() => window.__fire(document.getElementById('name'), 'typed')")
    wait_seen(page, ["typed", True])
    page.click("#flag")
    wait_seen(page, ["typed", False])
    assert page.evaluate("() => window.__changes") == ["typed", "false"]

    # React writes a value from its state (through its tracker), then says so with rtcstream:input.
    page.evaluate(
        """() => {
            const name = document.getElementById('name');
            name.value = 'from-state';
            name.dispatchEvent(new Event('rtcstream:input'));
        }"""
    )
    wait_seen(page, ["from-state", False])
    assert page.evaluate("() => document.getElementById('name')._valueTracker.getValue()") == "from-state"

    # A write the page does not announce is still sent with the next trigger.
    page.evaluate("() => { document.getElementById('name').value = 'quiet'; }")
    page.click("#again")
    wait_seen(page, ["quiet", False])
    assert page.evaluate("() => window.__changes") == ["typed", "false"]  # React's own writes are not changes
    assert page.evaluate("() => window.__untouched()")
    page.click("#w [data-part=stop]")
