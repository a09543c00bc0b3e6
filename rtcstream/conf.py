"""rtcstream's settings: ``settings.RTCSTREAM`` merged over these defaults, read when used."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # name -> dotted path (a handler, or a FastRTC-style rtcstream.Stream), or a dict {"handler": path,
    # "mode", "modality", "time_limit", "concurrency_limit", "on_additional_outputs", "label", "fps",
    # "color", "state", "additional_inputs", "additional_outputs", "text", "record"}.
    "HANDLERS": {},
    # For RTCPeerConnection on both sides: [{"urls": ..., "username": ..., "credential": ...}].
    # Empty means host candidates only: right for a LAN and for tests, wrong behind NAT.
    "ICE_SERVERS": [],
    # A TURN server shared-secret (coturn --use-auth-secret): {"urls": [...], "secret": ..., "ttl": 3600}.
    # Each session gets its own credentials, valid ttl seconds (rtcstream/turn.py); None: no TURN.
    "TURN": None,
    # Addresses the server never sends ICE checks to, besides multicast, broadcast,
    # reserved and unspecified ones (always refused): "private" (not globally
    # routable), "public", or networks such as "10.0.0.0/8" (docs/security.md).
    "REFUSED_CANDIDATE_ADDRESSES": [],
    # The browser's iceTransportPolicy: "all", or "relay" to use TURN only (to test a TURN server).
    "ICE_TRANSPORT_POLICY": "all",
    # Defaults for endpoints that do not set their own. None means unlimited.
    "DEFAULT_TIME_LIMIT": None,
    "DEFAULT_CONCURRENCY_LIMIT": None,
    # Past an endpoint's concurrency limit: "refuse" new sessions, or let them "wait" in a
    # first-come first-served waiting room shared by every process (admission/waiting_room.py)
    # of at most DEFAULT_QUEUE_LENGTH clients, each for at most DEFAULT_MAX_WAIT seconds
    # (None: no bound). Registry entries and admin rows may set their own.
    "DEFAULT_WHEN_FULL": "refuse",
    "DEFAULT_QUEUE_LENGTH": 20,
    "DEFAULT_MAX_WAIT": 600.0,
    # How often a waiting client asks again whether its turn has come, besides being
    # woken at once (through the channel layer) when a seat frees on any process.
    "QUEUE_POLL_INTERVAL": 2.0,
    # How often a logged-in user's session checks that the account may still use its
    # endpoint (else it ends with access_revoked: disabled, deleted, out of the endpoint's
    # groups) and counts the user's daily minutes (Quota) down. Anonymous sessions: never.
    "ACCOUNT_CHECK_INTERVAL": 15.0,
    # Admission backend: counts live sessions against concurrency limits.
    "ADMISSION_BACKEND": "rtcstream.admission.backends.DatabaseAdmission",
    # Seconds without a heartbeat after which a live session stops counting
    # (its process died). Heartbeats go out every third of this.
    "SESSION_EXPIRY": 30.0,
    # Whether a registry entry without an admin endpoint row is an endpoint of its own name.
    "ENDPOINTS_FROM_REGISTRY": True,
    # Worker threads for sync user code (handlers, generators, video functions).
    "WORKER_THREADS": 32,
    # Websockets (signalling and outputs) one client may hold open at once: a
    # logged-in user counts as that user, anyone else by address (IPv6: by its
    # CLIENT_IPV6_PREFIX network). A page holds two. None means no cap. Counted by CLIENT_COUNTER.
    "MAX_SOCKETS_PER_CLIENT": 32,
    "CLIENT_IPV4_PREFIX": 32,
    "CLIENT_IPV6_PREFIX": 64,
    # This process's limits, whoever asks: streams (sessions from their offer, or
    # websocket media, until they close; a socket that never offers is not one) and
    # websockets of any kind. Past them a socket is refused with 4503 or 4507, and an
    # offer with server_busy. An idle socket costs about 54 KiB (docs/security.md).
    # None: no limit.
    "MAX_SESSIONS": 256,
    "MAX_SOCKETS": 1024,
    # Where open sockets are counted: in this process (InProcessClientCounter, the
    # cap holds per worker) or in Redis (RedisClientCounter with REDIS_URL: the
    # cap holds across every worker and host; a dead worker's sockets expire
    # after SESSION_EXPIRY).
    "CLIENT_COUNTER": "rtcstream.admission.socket_counts.InProcessClientCounter",
    "REDIS_URL": None,
    # Addresses or networks ("10.0.0.0/8") of reverse proxies whose X-Forwarded-For
    # names the client. Empty: the peer address is the client, headers are ignored.
    "TRUSTED_PROXIES": [],
    # Largest websocket text frame accepted, in bytes.
    "MAX_MESSAGE_BYTES": 256 * 1024,
    # Frames one websocket may send a second, with a burst of two seconds' worth; a socket
    # that sends faster is ended (reason too_many_messages; rtcstream.signalling.message_budget).
    # None: no limit.
    "MAX_MESSAGES_PER_SECOND": 200,
    # How long an offer may take to be answered, and a session to connect.
    "NEGOTIATION_TIMEOUT": 15.0,
    "CONNECT_TIMEOUT": 30.0,
    # How long one call into sync user code may take before the session fails.
    "HANDLER_CALL_TIMEOUT": 60.0,
    # How long a handler's wait_for_args() waits for the page to answer send_input
    # with its current inputs before going on with the last ones it has.
    "WAIT_FOR_INPUTS_TIMEOUT": 5.0,
    # Later packets the server waits for before decoding an incoming audio frame
    # (rtcstream.media.jitter; aiortc's own buffer waits for 4: 80 ms). 1 means 20 ms.
    "AUDIO_JITTER_FRAMES": 1,
    # How much generated audio may wait ahead of playback, in seconds.
    "AUDIO_BUFFER_SECONDS": 0.5,
    # Keep the output a live stream of silence between replies (as Opus DTX with
    # AUDIO_DTX), so a browser plays the next reply at once (docs/performance.md).
    # False: no RTP at all between replies, which browsers take for packet loss.
    "AUDIO_IDLE_FRAMES": True,
    # Opus DTX both ways. The answer asks browsers to send with DTX: while the user
    # is silent, a packet every 400 ms instead of 50 a second, which the server then
    # neither decrypts nor decodes; handlers still hear every 20 ms, the gaps reach
    # them as silence (rtcstream.media.inbound). And the silence the server sends
    # between replies goes out as DTX too (rtcstream.media.tracks). False: every
    # frame is sent, both ways.
    "AUDIO_DTX": True,
    # Whether a page may carry its audio on its signalling websocket (a "media" message instead
    # of an offer: PCM16 or μ-law frames) when WebRTC cannot connect (docs/protocol.md).
    "WEBSOCKET_AUDIO": True,
    # Phone calls through Twilio Media Streams (docs/guide.md, "Phone calls (Twilio)"). The
    # account's auth token checks the X-Twilio-Signature of the incoming-call webhook; None:
    # phone calls are off (the webhook answers 404, stream sockets are refused with 4404).
    "TWILIO_AUTH_TOKEN": None,
    # The base of the stream URL the webhook's TwiML names ("wss://voice.example.com");
    # None: wss:// and the webhook request's host (docs/deploy.md).
    "TWILIO_STREAM_URL": None,
    # Seconds the stream URL's token is good for; it is good for one socket only, as
    # recorded in this Django cache (shared across workers only if the cache is: docs/security.md).
    "TWILIO_TOKEN_MAX_AGE": 60,
    "TWILIO_TOKEN_CACHE": "default",
    # The turn model a ReplyOnPause asks, after a short silence, whether the speaker has
    # finished, unless it names its own (ReplyOnPause(turn_model=...) or an endpoint's
    # option): "smart-turn" (Smart Turn v3.2; needs `pip install --no-deps pipecat-ai==1.14.0`)
    # or "none" (the VAD's pause alone; no extra package). docs/performance.md has the figures.
    "TURN_MODEL": "smart-turn",
    # URL prefix of the websocket routes (without slashes).
    "WS_PREFIX": "ws/rtcstream",
    # The session ledger (rtcstream.ledger): when each session connected, its minutes,
    # turns (ReplyOnPause: pause detection and reply latency), interruptions and errors,
    # written in batches off the event loop. It needs the sessions' rows, so it is off
    # with an admission backend that keeps none (InProcessAdmission).
    "LEDGER": True,
    # Ledger writes a process holds while the database is slow or down; the oldest are dropped past that.
    "LEDGER_MAX_PENDING": 10000,
    # Turns of one session the ledger writes a row for; the session's turn_count counts them all.
    # A cap on what one visitor can add to the database (typed texts are turns too). None: no cap.
    "LEDGER_TURNS_PER_SESSION": 5000,
    # Recordings (an endpoint's "record", with the page's consent): where they are stored, a
    # name in settings.STORAGES (None: default_storage), and under which path prefix.
    "RECORDING_STORAGE": None,
    "RECORDING_PATH": "rtcstream/recordings",
    # The recordings' sample rate (both directions are resampled to it) and longest length, in seconds.
    "RECORDING_SAMPLE_RATE": 16000,
    "RECORDING_MAX_SECONDS": 3600.0,
    # Audio a process holds for its recordings' writer while it falls behind, in bytes; past it, audio is dropped
    # (counted in the recording's "dropped" seconds, silence stands in).
    "RECORDING_MAX_PENDING_BYTES": 32 * 1024 * 1024,
    # Operations (docs/deploy.md). Who may read the metrics view (rtcstream.operations.views.metrics):
    # clients in these networks, or any client that sends "Authorization: Bearer <METRICS_TOKEN>".
    "METRICS_ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "METRICS_TOKEN": None,
    # Seconds between two samples of the event loop's lag (and of the pool's gauges); None: not sampled.
    "LOOP_LAG_INTERVAL": 0.5,
    # On SIGTERM under daphne: stop admitting, let live sessions run this many seconds at most, then
    # close them (server_shutdown) and let daphne stop. None or 0: daphne's own SIGTERM (close at once).
    "DRAIN_SECONDS": 30.0,
}


def get(name: str) -> Any:
    """Return one rtcstream setting, falling back to its default."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown rtcstream setting {name!r}")
    return getattr(settings, "RTCSTREAM", {}).get(name, DEFAULTS[name])


def load(name: str, base: type) -> Any:
    """Return the class the setting ``name`` names by dotted path: one of rtcstream's backends, or a site's own."""
    path = get(name)
    try:
        loaded = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f'RTCSTREAM["{name}"] = {path!r} cannot be imported: {exc}') from exc
    if not isinstance(loaded, type) or not issubclass(loaded, base):
        raise ImproperlyConfigured(f'RTCSTREAM["{name}"] = {path!r} is not a subclass of {base.__qualname__}.')
    return loaded
