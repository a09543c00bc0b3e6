// Read the page's input elements named by a widget's `inputs` attribute, as JSON values.
//
// Values: a number or range input gives a number (null when empty), a checkbox a
// boolean, a radio the checked value of its group, a multiple select a list of
// strings, any other element its value (or text) as a string, except an element
// marked `data-rtcstream-json`: its value (or text) is parsed as JSON, so lists
// and objects reach the handler as lists and dicts ("" gives null; text that is
// not JSON is sent as a string, with a console warning), and an element a
// renderer keeps a value on (RENDERED_VALUE: the `chat` renderer keeps its list of
// {role, content} messages), which gives that value, as gradio's Chatbot does.
//
// Changes: `input` and `change` events (what a user's edit fires), and the custom
// `rtcstream:input` event, which page code dispatches on an element after changing
// it from script (`el.value = ...` fires no event of its own) and the built-in
// renderers dispatch on the elements they write. The binding listens for them on
// the document (capture phase, so `rtcstream:input` need not bubble) and never
// touches the elements themselves: frameworks such as React define their own
// `value` / `checked` property on an input to track it, and must keep it. Values
// are read afresh from the selectors at every change, with the offer and with
// every trigger, so a value written without an event is still sent then, and an
// element a framework renders anew is found again.

export const JSON_ATTRIBUTE = "data-rtcstream-json";
export const RENDERED_VALUE = "rtcstreamValue";
export const INPUT_EVENT = "rtcstream:input";
const CHANGE_EVENTS = ["input", "change", INPUT_EVENT];

/** Split a comma-separated selector list ("#a,#b") into selectors. */
export function splitSelectors(list) {
  return (list || "").split(",").map((s) => s.trim()).filter(Boolean);
}

function rawText(el) {
  return "value" in el && typeof el.value === "string" ? el.value : el.textContent;
}

function parseJson(el) {
  const text = rawText(el).trim();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    console.warn(`rtcstream: the ${JSON_ATTRIBUTE} input ${el.id ? `#${el.id}` : el.tagName} does not hold JSON; sent as text`, text);
    return text;
  }
}

/** Return an element's value as JSON (see the rules above). */
export function readValue(el) {
  if (!el) return null;
  if (RENDERED_VALUE in el) return el[RENDERED_VALUE];
  if (el.hasAttribute(JSON_ATTRIBUTE)) return parseJson(el);
  if (el instanceof HTMLInputElement) {
    if (el.type === "checkbox") return el.checked;
    if (el.type === "range" || el.type === "number") return Number.isNaN(el.valueAsNumber) ? null : el.valueAsNumber;
    if (el.type === "radio") {
      const group = `input[type=radio][name="${CSS.escape(el.name)}"]:checked`;
      const checked = el.form?.querySelector(group) ?? document.querySelector(group);
      return checked ? checked.value : null;
    }
    return el.value;
  }
  if (el instanceof HTMLSelectElement && el.multiple) return Array.from(el.selectedOptions, (o) => o.value);
  if ("value" in el) return el.value;
  return el.textContent;
}

/** Whether an event on `target` may change the value of `el`: it is `el`, inside it, or a radio of its group. */
function concerns(el, target) {
  if (!el || !(target instanceof Node)) return false;
  if (el.contains(target)) return true;
  return el instanceof HTMLInputElement && el.type === "radio" && target instanceof HTMLInputElement
    && target.type === "radio" && target.name === el.name && target.form === el.form;
}

/** Watches the input elements and reports their values, coalescing bursts (a dragged slider). */
export class InputBinding {
  constructor(selectorList, onChange, delayMs = 40) {
    this.selectors = splitSelectors(selectorList);
    this.onChange = onChange;
    this.delayMs = delayMs;
    this.timer = null;
    this.listening = null; // AbortController of the current listeners
  }

  /** Listen for changes; call once the page has parsed, so that a missing element is worth a warning. */
  bind() {
    this.unbind();
    this.listening = new AbortController();
    const { signal } = this.listening;
    this.elements().forEach((el, i) => {
      if (!el) console.warn(`rtcstream: no element matches the input selector ${this.selectors[i]}`);
    });
    const listener = (ev) => {
      if (this.elements().some((el) => concerns(el, ev.target))) this.schedule();
    };
    for (const type of CHANGE_EVENTS) document.addEventListener(type, listener, { capture: true, signal });
  }

  unbind() {
    this.listening?.abort();
    this.listening = null;
    clearTimeout(this.timer);
  }

  /** The elements the selectors name now (null for a selector that matches nothing or is not valid CSS). */
  elements() {
    return this.selectors.map((sel) => {
      try {
        return document.querySelector(sel);
      } catch {
        return null;
      }
    });
  }

  values() {
    return this.elements().map(readValue);
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(this.values()), this.delayMs);
  }
}
