"""The admin: endpoints, users' quotas, the sessions running now, and the history of ended ones."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from rtcstream.admission.backends import session_expiry
from rtcstream.forms import EndpointForm
from rtcstream.ledger import admin as ledger_admin
from rtcstream.models import LiveSession, Quota, SessionHistory, SessionStatus, StreamEndpoint
from rtcstream.runtime import get_runtime
from rtcstream.signalling.groups import session_group

TERMINATE_MESSAGE = {"type": "rtcstream.terminate"}


def format_duration(value: datetime.timedelta) -> str:
    """Return a duration as h:mm:ss, without microseconds."""
    seconds = max(0, int(value.total_seconds()))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def send_terminate(session_ids: list[str]) -> None:
    """Ask the processes that own these sessions, wherever they run, to end them."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("No channel layer is configured (settings.CHANNEL_LAYERS).")

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(session_group(sid), dict(TERMINATE_MESSAGE)) for sid in session_ids))

    async_to_sync(send_all)()


@admin.register(StreamEndpoint)
class StreamEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "slug",
        "label",
        "handler",
        "mode",
        "modality",
        "time_limit",
        "concurrency_limit",
        "live_sessions",
        "waiting_sessions",
        "login_required",
        "enabled",
    ]
    list_filter = ["enabled", "mode", "modality", "login_required"]
    list_editable = ["enabled"]
    search_fields = ["slug", "label", "handler"]
    filter_horizontal = ["allowed_groups"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["enable", "disable"]
    fieldsets = [
        (None, {"fields": ["slug", "label", "handler", "mode", "modality", "enabled"]}),
        ("Limits", {"fields": ["time_limit", "concurrency_limit"]}),
        (
            "Waiting room",
            {
                "fields": ["when_full", "queue_length", "max_wait"],
                "description": "Past the concurrency limit, new sessions are refused, or wait in one line "
                "shared by every server process, first come first served.",
            },
        ),
        ("Access", {"fields": ["login_required", "allowed_groups"]}),
        ("Network", {"fields": ["ice_servers"], "classes": ["collapse"]}),
        (
            "Handler options",
            {
                "fields": EndpointForm.option_field_names(),
                "classes": ["collapse"],
                "description": "Each applies to the handler kinds that take it (ReplyOnPause: turn-taking). "
                "Empty keeps the handler's own value.",
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StreamEndpoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                live_count=Count("sessions", filter=Q(sessions__state=SessionStatus.LIVE)),
                waiting_count=Count("sessions", filter=Q(sessions__state=SessionStatus.WAITING)),
            )
        )

    @admin.display(description="live", ordering="live_count")
    def live_sessions(self, obj: StreamEndpoint) -> int:
        return obj.live_count  # type: ignore[attr-defined]

    @admin.display(description="waiting", ordering="waiting_count")
    def waiting_sessions(self, obj: StreamEndpoint) -> int:
        return obj.waiting_count  # type: ignore[attr-defined]

    @admin.action(description="Enable the selected endpoints", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[StreamEndpoint]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(request, f"Enabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable the selected endpoints (live sessions keep running)", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[StreamEndpoint]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"Disabled {count} endpoint(s).", messages.SUCCESS)


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """Minutes a day and sessions at once, for one user or each member of a group (``admission.quotas``)."""

    list_display = ["holder", "minutes_per_day", "concurrent_sessions", "used_today"]
    list_select_related = ["user", "group"]
    search_fields = ["user__username", "group__name"]
    raw_id_fields = ["user"]
    fields = ["user", "group", "minutes_per_day", "concurrent_sessions"]

    @admin.display(description="for")
    def holder(self, obj: Quota) -> str:
        return f"user {obj.user}" if obj.user_id is not None else f"group {obj.group}"

    @admin.display(description="used today")
    def used_today(self, obj: Quota) -> str:
        """A user's minutes streamed today, as admission counts them (a group's members each have their own)."""
        if obj.user_id is None:
            return "-"
        standing = get_runtime().admission.quota_standing_sync(obj.user_id)
        if standing is None or not standing.limits.any:
            return "-"
        return f"{standing.seconds_used / 60:.1f} min, {standing.live} live"


class SessionAdminBase(ledger_admin.SessionLedgerFields, admin.ModelAdmin):
    """Sessions are written by admission (and the ledger): the admin reads them."""

    list_display = ["short_id", "endpoint_slug", "user", "client", "started_at", "duration_display", "state"]
    list_select_related = ["user"]
    search_fields = ["session_id", "endpoint_slug", "client", "user__username", "error", "last_warning"]
    date_hierarchy = "started_at"
    fields = (
        "session_id",
        "endpoint",
        "endpoint_slug",
        "user",
        "client",
        "state",
        "end_reason",
        "queued_at",
        "started_at",
        "heartbeat_at",
        "ended_at",
        "duration_display",
        *ledger_admin.SESSION_FIELDS,
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="session", ordering="session_id")
    def short_id(self, obj: LiveSession) -> str:
        return obj.session_id[:12]

    @admin.display(description="duration")
    def duration_display(self, obj: LiveSession) -> str:
        return format_duration(obj.duration)


@admin.register(LiveSession)
class LiveSessionAdmin(SessionAdminBase):
    list_display = [*SessionAdminBase.list_display, "alive"]
    list_filter = ["endpoint_slug"]  # state is live and end_reason empty here; the history filters on them
    actions = ["terminate"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting a row would free its slot while the session still runs

    def has_terminate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rtcstream.terminate_session")

    @admin.display(description="heartbeat", boolean=True)
    def alive(self, obj: LiveSession) -> bool:
        """Show whether the owning process still reports the session."""
        return timezone.now() - obj.heartbeat_at <= datetime.timedelta(seconds=session_expiry())

    @admin.action(description="Terminate the selected sessions", permissions=["terminate"])
    def terminate(self, request: HttpRequest, queryset: QuerySet[LiveSession]) -> None:
        session_ids = list(queryset.values_list("session_id", flat=True))
        try:
            send_terminate(session_ids)
        except RuntimeError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"Asked {len(session_ids)} session(s) to terminate; they end within seconds "
            "and move to the history with reason “terminated”.",
            messages.SUCCESS,
        )
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            # The in-memory layer lives inside one process: sessions served by others never hear it.
            self.message_user(
                request,
                "The channel layer is in-memory, so only sessions served by this process receive the request; "
                "configure channels_redis to reach every process.",
                messages.WARNING,
            )


@admin.register(SessionHistory)
class SessionHistoryAdmin(ledger_admin.RecordingPlayback, SessionAdminBase):
    list_display = [*SessionAdminBase.list_display, "end_reason", "ended_at", "turn_count", "warning_count"]
    list_filter = [
        "state",
        "end_reason",
        "endpoint_slug",
        ledger_admin.HasErrorFilter,
        ("last_warning", admin.EmptyFieldListFilter),
        ledger_admin.HasRecordingFilter,
        ("connected_at", admin.EmptyFieldListFilter),
    ]
