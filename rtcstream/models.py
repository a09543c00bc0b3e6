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
        max_length=8,
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
                problems[name] = f"Only a {takers[0]} takes this option." if takers else "No handler takes this option."
                continue
            try:
                self.handler_options[name] = taken[name].clean(value)
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            raise ValidationError([f"Handler option {name}: {why}" for name, why in problems.items()])
        try:  # options valid one by one may still not go together (a pause longer than its bound)
            spec.new_handler(self.handler_options)
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


class SessionStatus(models.TextChoices):
    """Where a session's row stands: counted by admission (live), or history."""

    LIVE = "live", "live"
    ENDED = "ended", "ended"
    REFUSED = "refused", "refused"


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
    BAD_SDP = Refusal.BAD_SDP, "refused: bad offer"
    SERVER_ERROR = Refusal.SERVER_ERROR, "refused: server error"
    CONCURRENCY_LIMIT = Refusal.CONCURRENCY_LIMIT, "refused: concurrency limit"
    HANDLER_STUCK = Refusal.HANDLER_STUCK, "refused: handler stuck"
    # Its process stopped sending heartbeats (it died, or lost the database).
    EXPIRED = EXPIRED, "expired (no heartbeat)"


def session_group(session_id: str) -> str:
    """Return the channel layer group that the process owning ``session_id`` listens on."""
    return f"rtcstream.session.{session_id}"


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
    client = models.CharField("client address", max_length=64, blank=True)
    started_at = models.DateTimeField("started", default=timezone.now)
    heartbeat_at = models.DateTimeField("last heartbeat", default=timezone.now)
    ended_at = models.DateTimeField("ended", null=True, blank=True)
    state = models.CharField("state", max_length=8, choices=SessionStatus.choices, default=SessionStatus.LIVE)
    end_reason = models.CharField("end reason", max_length=32, choices=EndReason.choices, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "session"
        verbose_name_plural = "sessions"
        indexes = [
            # Admission counts live, fresh sessions of one endpoint.
            models.Index(fields=["endpoint_slug", "state", "heartbeat_at"], name="rtcstream_admission_idx"),
            # The expiry sweep and the admin's live list.
            models.Index(fields=["state", "heartbeat_at"], name="rtcstream_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_slug} {self.session_id[:8]}"

    @property
    def duration(self) -> datetime.timedelta:
        """Return how long the session ran (so far, if it is live)."""
        return (self.ended_at or timezone.now()) - self.started_at

    @property
    def group_name(self) -> str:
        return session_group(self.session_id)


_S = TypeVar("_S", bound="StreamSession")


class SessionsByLiveness(models.Manager[_S]):
    """The sessions that are live (``live=True``), or all the others."""

    def __init__(self, live: bool) -> None:
        super().__init__()  # Django keeps the constructor's arguments for deconstruct()
        self.live = live

    def get_queryset(self) -> models.QuerySet[_S]:
        rows = super().get_queryset()
        return rows.filter(state=SessionStatus.LIVE) if self.live else rows.exclude(state=SessionStatus.LIVE)


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
