// What the widget says: state labels, close reasons and errors a visitor can act on.

export const STATE_TEXT = {
  idle: "Ready",
  connecting: "Connecting…",
  waiting: "Waiting in line",
  reconnecting: "Reconnecting…",
  listening: "Listening",
  heard: "Heard the wake word",
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
  stopword: "heard", // ReplyOnStopWords: the wake phrase was heard; a command may follow
  started_talking: "hearing",
  pause_detected: "thinking",
  response_starting: "speaking",
  playback_done: "listening",
  interrupted: "listening",
};

// A state's words that depend on the event (the phrase heard), where STATE_TEXT's would say less.
export const EVENT_TEXT = {
  stopword: ({ phrase }) => (phrase ? `Heard “${phrase}”` : STATE_TEXT.heard),
};

export const TURN_HINT =
  "If the browser and the server are on different networks, the site needs a TURN server in settings.RTCSTREAM['TURN'].";

// What carries the media (the element's data-transport), as the status says it.
export const TRANSPORT_TEXT = {
  webrtc: "WebRTC",
  websocket: "Audio over the websocket",
};

// transport="auto" gave up on WebRTC (`why`) and carries the audio over the websocket.
export const FALLBACK_TEXT = (why) => `WebRTC could not connect (${why}): the audio goes over the websocket instead.`;

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
  quota_exhausted: "Your streaming minutes for today are used up. More tomorrow.",
  access_revoked: "This account may no longer use this stream.",
  fell_back: "", // this page hung up itself, to go on over the websocket
  too_many_messages: "This page sent the server more messages than it accepts; the stream has ended.",
};

// Why the server refused an offer (an `error` whose code is a refusal, docs/protocol.md), as messages;
// each gets the server's own message, which only the offer's failures show.
export const REFUSED_TEXT = {
  bad_sdp: (message) => `The server could not start the stream: ${message}`,
  server_error: (message) => `The server could not start the stream: ${message}`,
  concurrency_limit: () => "This stream is busy: everyone's seat is taken. Please try again in a minute.",
  handler_stuck: () => "This stream is not responding right now. Please try again later.",
  quota_minutes: () => "You have used your streaming minutes for today. More tomorrow.",
  quota_sessions: () => "You already have as many streams open as your account allows. Close one to start another.",
  queue_full: () => "This stream is busy and its waiting line is full. Please try again in a few minutes.",
  queue_timeout: () => "No seat freed up in time. Please try again later.",
  server_busy: () => "The server is at its limit of streams. Please try again in a minute.",
};

/** "3 min", "45 s": a duration in seconds, for a visitor. */
export function formatWait(seconds) {
  return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${Math.max(1, Math.round(seconds))} s`;
}

/** The waiting room: where the visitor stands (a `queue` message). */
export function queueText({ position, estimate }) {
  const place = position === 1 ? "You are next in line." : `You are number ${position} in line.`;
  return estimate == null ? place : `${place} About ${formatWait(estimate)} to wait.`;
}

/** What is left of the visitor's daily minutes (a quota's `seconds_left`). */
export function quotaText(secondsLeft) {
  return secondsLeft >= 60 ? `${Math.floor(secondsLeft / 60)} min left today` : `${Math.max(0, Math.ceil(secondsLeft))} s left today`;
}

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
  4408: ["too_many_messages", () => "This page sent the server more messages than it accepts."],
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
