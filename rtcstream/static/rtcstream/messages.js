// What the widget says: state labels, close reasons and errors a visitor can act on.

export const STATE_TEXT = {
  idle: "Ready",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  listening: "Listening",
  hearing: "Hearing you",
  thinking: "Thinking…",
  speaking: "Speaking",
  receiving: "Receiving",
  live: "Live",
  ended: "Ended",
  error: "Stopped",
};

// ReplyOnPause's turn-taking events, as widget states.
export const EVENT_STATE = {
  started_talking: "hearing",
  pause_detected: "thinking",
  response_starting: "speaking",
  response_done: "listening",
  interrupted: "listening",
};

export const TURN_HINT =
  "If the browser and the server are on different networks, the site needs a TURN server in settings.RTCSTREAM['TURN'].";

// The server's close reasons that are failures: the widget shows them as errors.
// A server error of one of these codes comes first, with the message to show.
export const ERROR_REASONS = new Set(["handler_error", "media_error", "connection_failed"]);

// The server's close reasons (docs/protocol.md), as messages; "" shows nothing.
export const CLOSED_TEXT = {
  client_stop: "",
  time_limit: "Time limit reached. Press start to begin a new session.",
  handler_closed: "The server ended the stream.",
  handler_error: "The server's handler failed; the stream has ended.",
  media_error: "The server stopped sending media because of an internal error; the stream has ended.",
  disconnected: "The connection to the server was lost.",
  stream_ended: "",
  connection_failed: `The media connection failed. ${TURN_HINT}`,
  terminated: "The stream was stopped by an administrator.",
  server_shutdown: "The server is restarting. Please try again in a moment.",
};

/** A failure with a code (data-error) and a message for the visitor. */
export class StreamError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Map a getUserMedia failure to a message a visitor can act on. */
export function mediaError(err, what) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new StreamError("permission_denied", `Permission to use your ${what} was denied. Allow it in the browser's address bar, then press start again.`);
    case "NotFoundError":
    case "OverconstrainedError":
      return new StreamError("no_device", `No ${what} was found. Connect one, then press start again.`);
    case "NotReadableError":
      return new StreamError("device_busy", `Your ${what} is in use by another application.`);
    default:
      return new StreamError("device_error", `Could not open your ${what}: ${err?.message || err}`);
  }
}

/**
 * Explain why the signalling socket closed before the session began.
 * 4404/4403/4429 are the server's refusals; a socket that never opened (1006)
 * usually means the server cannot serve websockets on that path at all.
 */
export function socketClosedError(code, { endpoint, path, opened }) {
  if (code === 4404) return new StreamError("unknown_endpoint", `The stream "${endpoint}" does not exist or is disabled.`);
  if (code === 4403) return new StreamError("forbidden", "Sign in with an account that may use this stream.");
  if (code === 4429) return new StreamError("too_many_streams", "Too many streams are open from this address. Close one and try again.");
  if (!opened) {
    return new StreamError(
      "socket_unavailable",
      `The websocket ${path} could not be opened. Is the server running daphne (an ASGI server, not runserver without daphne or a WSGI server), `
        + "does asgi.py route rtcstream.routing.websocket_urlpatterns under \"websocket\", and is CHANNEL_LAYERS set? "
        + "If the site was working, check your connection and try again.",
    );
  }
  return new StreamError("connection_failed", `The server closed the stream's websocket ${path} before the session began (code ${code}). Please try again; if it persists, see the server's log.`);
}
