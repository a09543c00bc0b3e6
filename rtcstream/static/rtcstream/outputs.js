// Built-in renderers for AdditionalOutputs: `outputs="#a,#b" render="chat,text"`.
//
// After rendering into an element, renderOutputs dispatches `rtcstream:input` on
// it, so an element that is also a widget's input sends its new value.

import { INPUT_EVENT, RENDERED_VALUE } from "./inputs.js";

/** Turn one value into chat messages: a list of {role, content} replaces, a message or text appends. */
function asMessages(value) {
  if (Array.isArray(value)) return { replace: true, messages: value.map(asMessage) };
  return { replace: false, messages: [asMessage(value)] };
}

function asMessage(value) {
  if (value && typeof value === "object" && "content" in value) {
    return { role: String(value.role || "assistant"), content: String(value.content) };
  }
  return { role: "assistant", content: typeof value === "string" ? value : JSON.stringify(value) };
}

function chatItem(target, message) {
  const tag = target instanceof HTMLOListElement || target instanceof HTMLUListElement ? "li" : "div";
  const item = document.createElement(tag);
  item.className = `rtcs-chat-message rtcs-role-${message.role.replace(/[^a-z0-9_-]/gi, "")}`;
  const who = document.createElement("span");
  who.className = "rtcs-chat-role";
  who.textContent = message.role === "user" ? "You" : message.role === "assistant" ? "Assistant" : message.role;
  const text = document.createElement("p");
  text.className = "rtcs-chat-text";
  text.textContent = message.content; // text, never HTML: outputs are data
  item.append(who, text);
  return item;
}

function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Name -> (element, value) => void. Sites may add their own: `RtcStream.renderers.set("name", fn)`. */
export const renderers = new Map([
  ["chat", (el, value) => {
    const { replace, messages } = asMessages(value);
    if (replace) el.replaceChildren();
    el.append(...messages.map((m) => chatItem(el, m)));
    // The conversation, as the element's input value (inputs.js readValue).
    el[RENDERED_VALUE] = replace ? messages : [...(el[RENDERED_VALUE] ?? []), ...messages];
    el.scrollTop = el.scrollHeight;
  }],
  ["text", (el, value) => { el.textContent = text(value); }],
  ["append", (el, value) => {
    const line = document.createElement("div");
    line.textContent = text(value);
    el.append(line);
    el.scrollTop = el.scrollHeight;
  }],
  // Into an input: strings as they are, anything else as JSON (read back by data-rtcstream-json).
  ["value", (el, value) => {
    const written = value === null || value === undefined ? "" : text(value);
    if ("value" in el) el.value = written;
    else el.textContent = written;
  }],
  ["json", (el, value) => { el.textContent = JSON.stringify(value, null, 2); }],
]);

/** The renderer of output i: renders[i] (the last one repeats; the default is "text"). */
function rendererName(renderNames, i) {
  return renderNames[Math.min(i, renderNames.length - 1)] || "text";
}

/**
 * An element that starts with a conversation (`data-rtcstream-messages`, a JSON list of messages, as
 * gradio's Chatbot(value=[...]) and rtcstream.components.Chatbot render): shown, and its input value.
 */
export function prepareChat(el) {
  if (!el || RENDERED_VALUE in el || !el.hasAttribute("data-rtcstream-messages")) return;
  el[RENDERED_VALUE] = [];
  renderers.get("chat")(el, JSON.parse(el.getAttribute("data-rtcstream-messages")));
}

/** Before a session: an element the chat renderer writes holds a conversation as its input value, as gradio's Chatbot does. */
export function prepareOutputs(selectors, renderNames) {
  selectors.forEach((selector, i) => {
    const el = document.querySelector(selector);
    prepareChat(el);
    if (el && rendererName(renderNames, i) === "chat" && !(RENDERED_VALUE in el)) el[RENDERED_VALUE] = [];
  });
}

/** Render values[i] into targets[i] with its renderer. */
export function renderOutputs(selectors, renderNames, values) {
  selectors.forEach((selector, i) => {
    if (i >= values.length) return;
    const el = document.querySelector(selector);
    const name = rendererName(renderNames, i);
    const render = renderers.get(name);
    if (!el) console.warn(`rtcstream: no element matches the output selector ${selector}`);
    else if (!render) console.warn(`rtcstream: unknown renderer "${name}"; known: ${[...renderers.keys()].join(", ")}`);
    else {
      render(el, values[i]);
      el.dispatchEvent(new Event(INPUT_EVENT));
    }
  });
}
