// The consent a recorded session asks for (docs/protocol.md, `consent`), before the
// microphone or camera is opened: the widget's consent part (rendered by the tag when the
// endpoint records) is shown, and the visitor's answer is the promise's value. Without
// that part, or when the visitor stops first, the answer is no: nothing is recorded
// unless the visitor said yes.

/** Show `part` and resolve with true (record) or false (do not), or false when `signal` aborts. */
export function askConsent(part, signal) {
  if (!part || signal.aborted) return Promise.resolve(false);
  const yes = part.querySelector('[data-part="consent-yes"]');
  const no = part.querySelector('[data-part="consent-no"]');
  return new Promise((resolve) => {
    const done = new AbortController();
    const answer = (value) => {
      done.abort();
      part.hidden = true;
      resolve(value);
    };
    yes?.addEventListener("click", () => answer(true), { signal: done.signal });
    no?.addEventListener("click", () => answer(false), { signal: done.signal });
    signal.addEventListener("abort", () => answer(false), { signal: done.signal });
    part.hidden = false;
    yes?.focus();
  });
}
