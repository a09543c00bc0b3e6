"""Endpoints configured in the admin, and one row per session for admission and history."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from rtcstream.endpoints import kinds, registry
from rtcstream.reasons import EXPIRED, CloseReason, Refusal


def handler_choices() -> list[tuple[str, str]]:
    """Return the registry's handler names as choices (read when used, so settings may change)."""
    return [(name, name) for name in registry.handler_names()]


def validate_ice_servers(value: Any) -> None:
    """Check the shape of an ``RTCPeerConnection`` ``iceServers`` list."""
    if value is None:
        return
    if not isinstance(value, list):
        raise ValidationError('Enter a JSON list, such as [{"urls": "stun:stun.example.org:3478"}].')
    for index, server in enumerate(value):
        where = f"Server {index + 1}"
        if not isinstance(server, dict):
            raise ValidationError(f'{where}: enter an object such as {{"urls": "turn:turn.example.org"}}.')
        unknown = set(server) - {"urls", "username", "credential"}
        if unknown:
            raise ValidationError(f"{where}: unknown keys {sorted(unknown)}; allowed: urls, username, credential.")
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
            raise ValidationError(f'{where}: "urls" must be a URL string or a list of them.')
        if not all(u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns") for u in urls):
            raise ValidationError(f'{where}: every URL must start with "stun:", "stuns:", "turn:" or "turns:".')
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise ValidationError(f'{where}: "{key}" must be a string.')


class StreamEndpoint(models.Model):
    """A slug a client may connect to, exposing one registry handler.

    Every setting left empty inherits the registry entry's (and that, the
    ``DEFAULT_*`` settings): nothing is copied, so an edit of the registry
    reaches every row that does not set its own value.
    """

    MODE_CHOICES = [(mode, mode) for mode in kinds.MODES]
    MODALITY_CHOICES = [(modality, modality) for modality in kinds.MODALITIES]

    slug = models.SlugField("slug", max_length=64, unique=True, help_text="The name in the page's {% webrtc %} tag.")
    label = models.CharField("label", max_length=100, blank=True, help_text="Empty uses the handler's label.")
    handler = models.CharField(
        "handler", max_length=100, choices=handler_choices, help_text='A name in settings RTCSTREAM["HANDLERS"].'
    )
    mode = models.CharField(
        "mode", max_length=16, choices=MODE_CHOICES, blank=True, help_text="Empty uses the registry entry's mode."
    )
    modality = models.CharField(
        "modality",
        max_length=16,
        choices=MODALITY_CHOICES,
        blank=True,
        help_text="Empty uses the registry entry's modality.",
    )
    time_limit = models.FloatField(
        "time limit (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="Empty uses the registry entry's limit; 0 means no limit.",
    )
    concurrency_limit = models.PositiveIntegerField(
        "concurrency limit",
        null=True,
        blank=True,
        help_text="Most sessions live at once, across all processes. Empty uses the registry entry's; 0 means none.",
    )
    # The waiting room: past the concurrency limit, refuse or let clients wait in line (admission/waiting_room.py).
    when_full = models.CharField(
        "when full",
        max_length=8,
        choices=[("refuse", "refuse new sessions"), ("wait", "let them wait in line")],
        blank=True,
        help_text="Empty uses the registry entry's (RTCSTREAM DEFAULT_WHEN_FULL: refuse).",
    )
    queue_length = models.PositiveIntegerField(
        "waiting room size",
        null=True,
        blank=True,
        help_text="Most clients waiting at once, across all processes. Empty uses the registry entry's; 0 means no bound.",
    )
    max_wait = models.FloatField(
        "longest wait (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="A client waiting longer is refused. Empty uses the registry entry's; 0 means no bound.",
    )
    enabled = models.BooleanField("enabled", default=True)
    login_required = models.BooleanField("login required", default=False)
    allowed_groups = models.ManyToManyField(
        "auth.Group",
        verbose_name="allowed groups",
        blank=True,
        related_name="+",
        help_text="If any are chosen, only their members (and superusers) may connect; implies login required.",
    )
    ice_servers = models.JSONField(
        "ICE servers",
        null=True,
        blank=True,
        validators=[validate_ice_servers],
        help_text='Overrides RTCSTREAM["ICE_SERVERS"] for this endpoint, e.g. [{"urls": "stun:stun.example.org"}].',
    )
    # Empty inherits the registry entry's "record" (rtcstream.recording); a recording needs the page's consent.
    record = models.BooleanField(
        "record",
        null=True,
        blank=True,
        help_text="Record both directions and the transcript, once the page has consented. Empty uses the registry entry's.",
    )
    # The options of the handler's kind (kinds.HandlerKind.endpoint_options) this endpoint sets;
    # an option it leaves out keeps the handler's own value.
    handler_options = models.JSONField("handler options", default=dict, blank=True)
    created_at = models.DateTimeField("created", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "endpoint"
        verbose_name_plural = "endpoints"

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        """Check the handler exists, can serve this mode and modality, and takes these options."""
        super().clean()
        if not self.handler:
            return
        try:
            spec = registry.get_handler(self.handler)
        except registry.RegistryError as exc:
            raise ValidationError({"handler": str(exc)}) from exc
        if spec is None:
            raise ValidationError({"handler": f'"{self.handler}" is not in settings RTCSTREAM["HANDLERS"].'})
        mode, modality = self.mode or spec.mode, self.modality or spec.modality
        if not spec.kind.can_serve(mode, modality):
            raise ValidationError(
                {
                    "mode": f'The handler "{self.handler}" is a {spec.kind.label}; it can serve: {spec.kind.describe_serves()}.'
                }
            )
        if not isinstance(self.handler_options, dict):
            raise ValidationError("The handler options must be a JSON object of option names and values.")
        taken = {option.name: option for option in spec.kind.endpoint_options}
        problems = {}
        for name, value in self.handler_options.items():
            if name not in taken:
                takers = [kind.label for kind in kinds.KINDS if name in {o.name for o in kind.endpoint_options}]
                problems[name] = (
                    f"Only a {' or '.join(takers)} takes this option." if takers else "No handler takes this option."
                )
                continue
            try:
                self.handler_options[name] = taken[name].clean(value)
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            raise ValidationError([f"Handler option {name}: {why}" for name, why in problems.items()])
        try:  # options valid one by one may still not go together (a pause longer than its bound)
            spec.new_handler(self.handler_options)
        except registry.RegistryError as exc:  # the handler's copy() is wrong, whatever the options
            raise ValidationError({"handler": str(exc)}) from exc
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Handler options: {exc}") from exc


class AdmissionLock(models.Model):
    """One row per endpoint slug, locked while an admission counts that endpoint's live sessions.

    A row of its own, not the endpoint's, so that an endpoint that exists only in
    the registry is locked too, on every database with row locks
    (``admission.backends.DatabaseAdmission``).
    """

    slug = models.SlugField("endpoint slug", max_length=64, primary_key=True)

    class Meta:
        verbose_name = "admission lock"


class Quota(models.Model):
    """How much one user, or each member of one group, may stream: minutes a day and sessions at once.

    A user with a quota of their own is held to it; any other user to the most
    generous of their groups' quotas, field by field (an empty field is no
    limit); a user with neither, and anonymous visitors, to none. Enforced at
    admission across every process (``admission.backends.DatabaseAdmission``);
    the day ends at midnight in ``settings.TIME_ZONE``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name="user",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rtcstream_quota",
    )
    group = models.OneToOneField(
        "auth.Group",
        verbose_name="group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rtcstream_quota",
    )
    minutes_per_day = models.FloatField(
        "minutes per day",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="Streaming time a day, on all endpoints together. Empty: no daily limit.",
    )
    concurrent_sessions = models.PositiveIntegerField(
        "sessions at once",
        null=True,
        blank=True,
        help_text="Sessions open at once, on all endpoints together. Empty: no limit.",
    )

    class Meta:
        verbose_name = "quota"
        verbose_name_plural = "quotas"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="rtcstream_quota_user_or_group",
                violation_error_message="A quota is either a user's or a group's: choose exactly one.",
            )
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id is not None else f"group {self.group}"
        minutes = "no daily limit" if self.minutes_per_day is None else f"{self.minutes_per_day:g} min/day"
        sessions = "" if self.concurrent_sessions is None else f", {self.concurrent_sessions} at once"
        return f"{who}: {minutes}{sessions}"


class SessionStatus(models.TextChoices):
    """Where a session's row stands: counted by admission (live), or history."""

    LIVE = "live", "live"
    WAITING = "waiting", "waiting"  # in the endpoint's waiting room: it holds no seat yet
    ENDED = "ended", "ended"
    REFUSED = "refused", "refused"  # never held a seat (refused, or left the waiting room)


class EndReason(models.TextChoices):
    """Why a session ended (``rtcstream.reasons``): a close reason, an offer's refusal, or expiry."""

    CLIENT_STOP = CloseReason.CLIENT_STOP, "client stop"
    TIME_LIMIT = CloseReason.TIME_LIMIT, "time limit"
    HANDLER_CLOSED = CloseReason.HANDLER_CLOSED, "handler closed"
    HANDLER_ERROR = CloseReason.HANDLER_ERROR, "handler error"
    MEDIA_ERROR = CloseReason.MEDIA_ERROR, "media error"
    STREAM_ENDED = CloseReason.STREAM_ENDED, "stream ended"
    DISCONNECTED = CloseReason.DISCONNECTED, "disconnected"
    CONNECTION_FAILED = CloseReason.CONNECTION_FAILED, "connection failed"
    TERMINATED = CloseReason.TERMINATED, "terminated"
    SERVER_SHUTDOWN = CloseReason.SERVER_SHUTDOWN, "server shutdown"
    QUOTA_EXHAUSTED = CloseReason.QUOTA_EXHAUSTED, "daily minutes used up"
    ACCESS_REVOKED = CloseReason.ACCESS_REVOKED, "access revoked"
    FELL_BACK = CloseReason.FELL_BACK, "fell back to the websocket"
    TOO_MANY_MESSAGES = CloseReason.TOO_MANY_MESSAGES, "too many messages"
    BAD_SDP = Refusal.BAD_SDP, "refused: bad offer"
    SERVER_ERROR = Refusal.SERVER_ERROR, "refused: server error"
    CONCURRENCY_LIMIT = Refusal.CONCURRENCY_LIMIT, "refused: concurrency limit"
    HANDLER_STUCK = Refusal.HANDLER_STUCK, "refused: handler stuck"
    QUOTA_MINUTES = Refusal.QUOTA_MINUTES, "refused: daily minutes used"
    QUOTA_SESSIONS = Refusal.QUOTA_SESSIONS, "refused: user's sessions at quota"
    QUEUE_FULL = Refusal.QUEUE_FULL, "refused: waiting room full"
    QUEUE_TIMEOUT = Refusal.QUEUE_TIMEOUT, "refused: waited too long"
    SERVER_BUSY = Refusal.SERVER_BUSY, "refused: server at its stream limit"
    # Its process stopped sending heartbeats (it died, or lost the database).
    EXPIRED = EXPIRED, "expired (no heartbeat)"


CLIENT_CHARS = 64  # a session row's client address, at most (an IPv6 address and port fit)


class StreamSession(models.Model):
    """One session: counted by admission while live, kept afterwards as history."""

    session_id = models.CharField("session", max_length=64, unique=True)
    endpoint = models.ForeignKey(
        StreamEndpoint,
        verbose_name="endpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    # A copy, because registry-only endpoints have no row and rows may be deleted.
    endpoint_slug = models.SlugField("endpoint slug", max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="user",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    client = models.CharField("client address", max_length=CLIENT_CHARS, blank=True)
    # When it joined the endpoint's waiting room (None: it never waited); started_at is when it got its seat.
    queued_at = models.DateTimeField("queued", null=True, blank=True)
    started_at = models.DateTimeField("started", default=timezone.now)
    heartbeat_at = models.DateTimeField("last heartbeat", default=timezone.now)
    ended_at = models.DateTimeField("ended", null=True, blank=True)
    state = models.CharField("state", max_length=8, choices=SessionStatus.choices, default=SessionStatus.LIVE)
    end_reason = models.CharField("end reason", max_length=32, choices=EndReason.choices, blank=True)
    # The ledger's part (rtcstream.ledger), written by the process that served the session.
    connected_at = models.DateTimeField("media connected", null=True, blank=True)
    media_seconds = models.FloatField("media seconds", null=True, blank=True, help_text="From connected to closed.")
    turn_count = models.PositiveIntegerField("turns", default=0)
    interruption_count = models.PositiveIntegerField("interruptions", default=0)
    error = models.TextField("error", blank=True, help_text="What ended the session with an error, if anything did.")
    warning_count = models.PositiveIntegerField("warnings", default=0, help_text="Warnings the page was shown.")
    last_warning = models.TextField("last warning", blank=True, help_text="The last warning the page was shown.")

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "session"
        verbose_name_plural = "sessions"
        indexes = [
            # Admission counts live, fresh sessions of one endpoint.
            models.Index(fields=["endpoint_slug", "state", "heartbeat_at"], name="rtcstream_admission_idx"),
            # The expiry sweep and the admin's live list.
            models.Index(fields=["state", "heartbeat_at"], name="rtcstream_state_idx"),
            # A user's quota: their sessions live now, and those of the day (admission.quotas).
            models.Index(fields=["user", "started_at"], name="rtcstream_user_day_idx"),
            # The ledger's charts and the retention command read sessions by when they started.
            models.Index(fields=["started_at"], name="rtcstream_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_slug} {self.session_id[:8]}"

    @property
    def duration(self) -> datetime.timedelta:
        """Return how long the session ran (so far, if it is live)."""
        return (self.ended_at or timezone.now()) - self.started_at

    @staticmethod
    def who(user: Any, client: str | None) -> dict[str, Any]:
        """The fields that say whose session a row is: the user's (None for an anonymous visitor) and the
        client's address (cut to the column). Admission and the ledger's refusals both write them so."""
        return {
            "user_id": user.pk if user is not None and user.is_authenticated else None,
            "client": (client or "")[:CLIENT_CHARS],
        }


_S = TypeVar("_S", bound="StreamSession")


class SessionsByLiveness(models.Manager[_S]):
    """The sessions that are live (``live=True``), or those that ended or were refused (waiting ones are neither)."""

    def __init__(self, live: bool) -> None:
        super().__init__()  # Django keeps the constructor's arguments for deconstruct()
        self.live = live

    def get_queryset(self) -> models.QuerySet[_S]:
        rows = super().get_queryset()
        if self.live:
            return rows.filter(state=SessionStatus.LIVE)
        return rows.exclude(state__in=(SessionStatus.LIVE, SessionStatus.WAITING))


class LiveSession(StreamSession):
    """The sessions running now, as the admin lists them."""

    objects: ClassVar[SessionsByLiveness[Any]] = SessionsByLiveness(live=True)

    class Meta:
        proxy = True
        ordering = ["-started_at"]
        verbose_name = "live session"
        verbose_name_plural = "live sessions"
        permissions = [("terminate_session", "Can terminate a live session")]


class SessionHistory(StreamSession):
    """Sessions that ended or were refused, with their reason."""

    objects: ClassVar[SessionsByLiveness[Any]] = SessionsByLiveness(live=False)

    class Meta:
        proxy = True
        ordering = ["-started_at"]
        verbose_name = "ended session"
        verbose_name_plural = "session history"


class SessionCharts(StreamSession):
    """The ledger's charts (sessions per hour, reply latency, end reasons): an admin page, not a list."""

    class Meta:
        proxy = True
        verbose_name = "session chart"
        verbose_name_plural = "session charts"


# -- the ledger's turns, and recordings (rtcstream.ledger, rtcstream.recording) ----------------------


class TurnCause(models.TextChoices):
    """What ended the user's turn, or what started a reply with no turn (``startup``: the greeting)."""

    PAUSE = "pause", "pause"
    MAX_LENGTH = "max_length", "maximum utterance"
    TRIGGER = "trigger", "trigger"
    STARTUP = "startup", "greeting (no turn)"
    NONE = "", "none (the session ended first)"


class TurnOutcome(models.TextChoices):
    """How a turn ended."""

    COMPLETED = "completed", "completed"  # the reply played out
    INTERRUPTED = "interrupted", "interrupted"  # the user talked over the reply
    ERROR = "error", "error"
    UNFINISHED = "unfinished", "unfinished"  # the reply was running when the session ended
    UNANSWERED = "unanswered", "unanswered"  # the user was talking when the session ended


class Turn(models.Model):
    """One turn of a ReplyOnPause session, as its server saw it: times from the server's own clock.

    Written by the ledger (``rtcstream.ledger``) in batches, off the event loop.
    """

    session = models.ForeignKey(
        StreamSession,
        verbose_name="session",
        to_field="session_id",
        on_delete=models.CASCADE,
        related_name="turns",
    )
    endpoint_slug = models.SlugField("endpoint slug", max_length=64)  # a copy, for charts per endpoint
    index = models.PositiveIntegerField("turn")
    cause = models.CharField("ended by", max_length=16, choices=TurnCause.choices, blank=True)
    outcome = models.CharField("outcome", max_length=16, choices=TurnOutcome.choices)
    started_at = models.DateTimeField("started")  # speech start, else the pause (trigger), else the reply
    speech_started_at = models.DateTimeField("speech started", null=True, blank=True)
    pause_detected_at = models.DateTimeField("pause detected", null=True, blank=True)
    reply_started_at = models.DateTimeField("reply started", null=True, blank=True)
    first_audio_at = models.DateTimeField("first reply audio sent", null=True, blank=True)
    first_output_at = models.DateTimeField("first output published", null=True, blank=True)
    response_done_at = models.DateTimeField("reply done", null=True, blank=True)
    playback_done_at = models.DateTimeField("playback done", null=True, blank=True)
    interrupted_at = models.DateTimeField("interrupted", null=True, blank=True)
    utterance_seconds = models.FloatField("utterance (s)", null=True, blank=True)
    pause_ms = models.FloatField(
        "pause detection (ms)", null=True, blank=True, help_text="Silence after the voice when the pause was called."
    )
    reply_latency_ms = models.FloatField(
        "reply latency (ms)", null=True, blank=True, help_text="From the pause detected to the first reply audio sent."
    )
    output_latency_ms = models.FloatField(
        "output latency (ms)", null=True, blank=True, help_text="From the pause detected to the first output published."
    )
    error = models.TextField("error", blank=True)

    class Meta:
        ordering = ["-started_at", "-index"]
        verbose_name = "turn"
        verbose_name_plural = "turns"
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="rtcstream_turn_once")]
        indexes = [models.Index(fields=["endpoint_slug", "started_at"], name="rtcstream_turn_endpoint_idx")]

    def __str__(self) -> str:
        return f"{self.session_id[:8]} turn {self.index}"


class RecordingKind(models.TextChoices):
    AUDIO = "audio", "audio"
    TRANSCRIPT = "transcript", "transcript"


class Recording(models.Model):
    """A file a session's recording stored (``rtcstream.recording``): its audio, or its transcript.

    ``storage`` is the STORAGES alias the file was saved to ("default" for
    ``default_storage``), kept so the file stays reachable, and deletable,
    after ``RTCSTREAM["RECORDING_STORAGE"]`` changes.
    """

    session = models.ForeignKey(
        StreamSession,
        verbose_name="session",
        to_field="session_id",
        on_delete=models.CASCADE,
        related_name="recordings",
    )
    kind = models.CharField("kind", max_length=16, choices=RecordingKind.choices)
    storage = models.CharField("storage", max_length=64, default="default")
    name = models.CharField("file", max_length=255)
    content_type = models.CharField("content type", max_length=64)
    size = models.PositiveBigIntegerField("bytes", default=0)
    seconds = models.FloatField("seconds", null=True, blank=True)
    channels = models.CharField("channels", max_length=32, blank=True, help_text="Who each audio channel is.")
    dropped_seconds = models.FloatField(
        "dropped (s)", default=0.0, help_text="Audio lost because the writer fell behind; silence stands in."
    )
    created_at = models.DateTimeField("stored", default=timezone.now)

    class Meta:
        ordering = ["session", "kind"]
        verbose_name = "recording"
        verbose_name_plural = "recordings"
        constraints = [models.UniqueConstraint(fields=["session", "kind"], name="rtcstream_recording_once")]

    def __str__(self) -> str:
        return self.name
