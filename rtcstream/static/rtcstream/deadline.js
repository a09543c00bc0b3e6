// Awaiting with a way out: every wait ends on its promise, an abort, or a deadline.

/**
 * Settle with `promise`, or reject with `signal.reason` when the signal aborts,
 * or with `onTimeout()` after `ms` milliseconds (no deadline when ms is 0).
 */
export function within(promise, signal, ms = 0, onTimeout = () => new Error("timed out")) {
  return new Promise((resolve, reject) => {
    // Subscribe to `promise` first, even when the signal has already aborted: a promise
    // nobody listens to that rejects later (a closed peer connection's createOffer) would
    // be an unhandled rejection. Once this promise has settled, later outcomes are ignored.
    const abort = () => reject(signal.reason);
    const timer = ms && !signal.aborted ? setTimeout(() => reject(onTimeout()), ms) : 0;
    Promise.resolve(promise)
      .then(resolve, reject)
      .finally(() => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
      });
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  });
}
