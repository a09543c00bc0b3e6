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

// ReplyOnPause's turn-taking events, as widget states. The reply is heard until
// its last frame has been sent (playback_done), not when its generator ends (response_done).
export const EVENT_STATE = {
  started_talking: "hearing",
  pause_detected: "thinking",
  response_starting: "speaking",
  playback_done: "listening",
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

// Why the server refused a socket, by close code (rtcstream/signalling/close_codes.py).
export const CLOSE_CODES = {
  4400: ["bad_host", () => "This site's address is not one the server accepts (ALLOWED_HOSTS)."],
  4403: ["forbidden", () => "Sign in with an account that may use this stream."],
  4404: ["unknown_endpoint", ({ endpoint }) => `The stream "${endpoint}" does not exist or is disabled.`],
  4410: ["gone", () => "This stream has already ended. Press start to begin a new one."],
  4429: ["too_many_streams", () => "Too many streams are open from your network. Close one and try again."],
  4500: ["server_error", () => "The server failed to open the stream; its log has the details. Please try again later."],
  4501: ["no_channel_layer", () => "The server cannot stream: it has no channel layer (settings.CHANNEL_LAYERS). Its log says more."],
  4502: ["server_restarting", () => "The server is restarting. Please try again in a moment."],
  4503: ["server_busy", () => "The server is at its limit of streams. Please try again in a minute."],
  4507: ["server_busy", () => "The server is at its limit of connections. Please try again in a minute."],
};

/**
 * Explain why the signalling socket closed before the session began: one of the
 * server's refusals (CLOSE_CODES), or a socket that never opened (1006), which
 * usually means the server cannot serve websockets on that path at all.
 */
export function socketClosedError(code, { endpoint, path, opened }) {
  const known = CLOSE_CODES[code];
  if (known) return new StreamError(known[0], known[1]({ endpoint, path }));
  if (!opened) {
    return new StreamError(
      "socket_unavailable",
      `The websocket ${path} could not be opened. Is the server running daphne (an ASGI server, not runserver without daphne or a WSGI server), `
        + "does asgi.py route rtcstream.signalling.routing.websocket_urlpatterns under \"websocket\", and is CHANNEL_LAYERS set? "
        + "If the site was working, check your connection and try again.",
    );
  }
  return new StreamError("connection_failed", `The server closed the stream's websocket ${path} before the session began (code ${code}). Please try again; if it persists, see the server's log.`);
}
