// Awaiting with a way out: every wait ends on its promise, an abort, or a deadline.

/**
 * Settle with `promise`, or reject with `signal.reason` when the signal aborts,
 * or with `onTimeout()` after `ms` milliseconds (no deadline when ms is 0).
 */
export function within(promise, signal, ms = 0, onTimeout = () => new Error("timed out")) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const abort = () => reject(signal.reason);
    const timer = ms ? setTimeout(() => reject(onTimeout()), ms) : 0;
    signal.addEventListener("abort", abort, { once: true });
    Promise.resolve(promise)
      .then(resolve, reject)
      .finally(() => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
      });
  });
}
