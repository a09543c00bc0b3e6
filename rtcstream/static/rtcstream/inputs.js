// Read the page's input elements named by a widget's `inputs` attribute.

/** Split a comma-separated selector list ("#a,#b") into selectors. */
export function splitSelectors(list) {
  return (list || "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** Return an element's value as JSON: numbers for range/number, booleans for checkboxes, strings otherwise. */
export function readValue(el) {
  if (!el) return null;
  if (el instanceof HTMLInputElement) {
    if (el.type === "checkbox") return el.checked;
    if (el.type === "range" || el.type === "number") return Number.isNaN(el.valueAsNumber) ? null : el.valueAsNumber;
    if (el.type === "radio") {
      const checked = el.form?.querySelector(`input[type=radio][name="${CSS.escape(el.name)}"]:checked`)
        ?? document.querySelector(`input[type=radio][name="${CSS.escape(el.name)}"]:checked`);
      return checked ? checked.value : null;
    }
    return el.value;
  }
  if (el instanceof HTMLSelectElement && el.multiple) return Array.from(el.selectedOptions, (o) => o.value);
  if ("value" in el) return el.value;
  return el.textContent;
}

/** Watches the input elements and reports their values, coalescing bursts (a dragged slider). */
export class InputBinding {
  constructor(selectorList, onChange, delayMs = 40) {
    this.selectors = splitSelectors(selectorList);
    this.onChange = onChange;
    this.delayMs = delayMs;
    this.timer = null;
    this.elements = [];
    this.listener = () => this.schedule();
  }

  /** Resolve the selectors now (the elements may come after the widget in the page). */
  bind() {
    this.unbind();
    this.elements = this.selectors.map((sel) => {
      const el = document.querySelector(sel);
      if (!el) console.warn(`rtcstream: no element matches the input selector ${sel}`);
      el?.addEventListener("input", this.listener);
      el?.addEventListener("change", this.listener);
      return el;
    });
  }

  unbind() {
    for (const el of this.elements) {
      el?.removeEventListener("input", this.listener);
      el?.removeEventListener("change", this.listener);
    }
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
