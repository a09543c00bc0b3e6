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
// Changes: `input` and `change` events, the custom `rtcstream:input` event (page
// code dispatches it after changing an element some other way; the built-in
// renderers dispatch it on the elements they write), and programmatic writes
// to `value` / `checked` / `valueAsNumber`, which fire no event of their own:
// the binding wraps those setters on each bound element to dispatch
// `rtcstream:input`.

export const JSON_ATTRIBUTE = "data-rtcstream-json";
export const RENDERED_VALUE = "rtcstreamValue";
export const INPUT_EVENT = "rtcstream:input";
const WATCHED_PROPERTIES = ["value", "checked", "valueAsNumber"];
const watched = new WeakSet();

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

function findSetter(el, name) {
  for (let proto = Object.getPrototypeOf(el); proto; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor) return descriptor.set && descriptor.get ? descriptor : null;
  }
  return null;
}

/**
 * Make programmatic writes (`el.value = ...`) dispatch `rtcstream:input` on `el`.
 * Done once per element; the own property only adds the event, so it stays.
 */
export function watchWrites(el) {
  if (watched.has(el)) return;
  watched.add(el);
  for (const name of WATCHED_PROPERTIES) {
    const descriptor = findSetter(el, name);
    if (!descriptor || Object.prototype.hasOwnProperty.call(el, name)) continue;
    Object.defineProperty(el, name, {
      configurable: true,
      enumerable: descriptor.enumerable,
      get() {
        return descriptor.get.call(this);
      },
      set(value) {
        descriptor.set.call(this, value);
        this.dispatchEvent(new Event(INPUT_EVENT));
      },
    });
  }
}

/** Watches the input elements and reports their values, coalescing bursts (a dragged slider). */
export class InputBinding {
  constructor(selectorList, onChange, delayMs = 40) {
    this.selectors = splitSelectors(selectorList);
    this.onChange = onChange;
    this.delayMs = delayMs;
    this.timer = null;
    this.elements = [];
    this.listening = null; // AbortController of the current listeners
  }

  /** Resolve the selectors now (the elements may come after the widget in the page). */
  bind() {
    this.unbind();
    this.listening = new AbortController();
    const { signal } = this.listening;
    const listener = () => this.schedule();
    this.elements = this.selectors.map((sel) => {
      const el = document.querySelector(sel);
      if (!el) {
        console.warn(`rtcstream: no element matches the input selector ${sel}`);
        return null;
      }
      for (const type of ["input", "change", INPUT_EVENT]) el.addEventListener(type, listener, { signal });
      watchWrites(el);
      return el;
    });
  }

  unbind() {
    this.listening?.abort();
    this.listening = null;
    clearTimeout(this.timer);
  }

  values() {
    if (!this.elements.length && this.selectors.length) this.bind();
    return this.elements.map(readValue);
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(this.values()), this.delayMs);
  }
}
