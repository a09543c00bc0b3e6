"""The ledger in the admin: the session page's turns and recording, the turn list, and the charts page.

``rtcstream.admin`` mixes ``SessionLedgerFields`` into its session admins and
``RecordingPlayback`` into the history's; the rest registers here.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from rtcstream.ledger import stats, svg
from rtcstream.models import Recording, SessionCharts, StreamSession, Turn
from rtcstream.recording import storage as storages

SESSION_FIELDS = (
    "connected_at",
    "minutes",
    "turn_count",
    "interruption_count",
    "error",
    "warning_count",
    "last_warning",
    "turns_table",
    "recording_player",
    "transcript",
)
TURNS_SHOWN = 50  # on a session's page; the turn list has them all
TRANSCRIPT_BYTES = 256 * 1024  # of a transcript shown on a session's page


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


class SessionLedgerFields:
    """The ledger's read-only fields of a session's page."""

    @admin.display(description="media minutes")
    def minutes(self, obj: StreamSession) -> str:
        return "—" if obj.media_seconds is None else f"{obj.media_seconds / 60:.2f}"

    @admin.display(description="turns")
    def turns_table(self, obj: StreamSession) -> SafeString | str:
        turns = list(obj.turns.order_by("index")[:TURNS_SHOWN])
        if not turns:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    t.index,
                    timezone.localtime(t.started_at).strftime("%H:%M:%S"),
                    t.get_cause_display(),
                    t.get_outcome_display(),
                    "—" if t.utterance_seconds is None else f"{t.utterance_seconds:.1f}",
                    _ms(t.pause_ms),
                    _ms(t.reply_latency_ms),
                )
                for t in turns
            ),
        )
        url = reverse("admin:rtcstream_turn_changelist") + f"?q={obj.session_id}"
        return format_html(
            '<table class="rtcs-turns"><thead><tr><th>turn</th><th>started</th><th>ended by</th><th>outcome</th>'
            "<th>utterance (s)</th><th>pause (ms)</th><th>reply latency (ms)</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All {} turns, with every time</a></p>',
            rows,
            url,
            obj.turn_count or len(turns),
        )

    @admin.display(description="recording")
    def recording_player(self, obj: StreamSession) -> SafeString | str:
        audio = obj.recordings.filter(kind="audio").first()
        if audio is None:
            return "—"
        url = reverse("admin:rtcstream_sessionhistory_recording", args=[obj.pk, "audio"])
        dropped = f"; {audio.dropped_seconds:.1f} s lost (the writer fell behind)" if audio.dropped_seconds else ""
        return format_html(
            '<audio controls preload="none" src="{}"></audio><br>{} s, {}{} · <a href="{}" download>download</a>',
            url,
            f"{audio.seconds or 0:.1f}",
            audio.channels,
            dropped,
            url,
        )

    @admin.display(description="transcript")
    def transcript(self, obj: StreamSession) -> SafeString | str:
        row = obj.recordings.filter(kind="transcript").first()
        if row is None:
            return "—"
        try:
            with storages.storage(row.storage).open(row.name, "rb") as stored:
                text = stored.read(TRANSCRIPT_BYTES).decode(errors="replace")
        except Exception as exc:  # a file gone missing should not take the page down
            return f"The transcript could not be read: {exc}"
        lines = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                break  # cut at TRANSCRIPT_BYTES
            lines.append((f"{float(entry.get('at', 0)):.1f} s", entry.get("role") or "—", entry.get("text", "")))
        url = reverse("admin:rtcstream_sessionhistory_recording", args=[obj.pk, "transcript"])
        return format_html(
            '<ol class="rtcs-transcript">{}</ol><a href="{}" download>download</a>',
            format_html_join("", "<li><span>{}</span> <b>{}</b>: {}</li>", lines),
            url,
        )


class RecordingPlayback:
    """The URL the session page's player and download links use: the file, from its storage, to staff only."""

    admin_site: admin.AdminSite

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = super().get_urls()  # type: ignore[misc]
        view = self.admin_site.admin_view(self.recording_view)
        return [path("<path:object_id>/recording/<str:kind>/", view, name="rtcstream_sessionhistory_recording"), *urls]

    def recording_view(self, request: HttpRequest, object_id: str, kind: str) -> HttpResponseBase:
        session = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if session is None:
            raise Http404("No such session.")
        if not self.has_view_permission(request, session):  # type: ignore[attr-defined]
            raise PermissionDenied
        row = Recording.objects.filter(session_id=session.session_id, kind=kind).first()
        if row is None:
            raise Http404("This session has no such recording.")
        try:
            stored = storages.storage(row.storage).open(row.name, "rb")
        except FileNotFoundError as exc:
            raise Http404("The recording's file is gone.") from exc
        response = FileResponse(stored, content_type=row.content_type, filename=posixpath.basename(row.name))
        response["Cache-Control"] = "private, no-store"
        return response


class HasErrorFilter(admin.SimpleListFilter):
    title = "error"
    parameter_name = "has_error"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "with an error"), ("no", "without")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(error="")
        if self.value() == "no":
            return queryset.filter(error="")
        return queryset


class HasRecordingFilter(admin.SimpleListFilter):
    title = "recording"
    parameter_name = "recorded"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "recorded"), ("no", "not recorded")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        recorded = Exists(Recording.objects.filter(session_id=OuterRef("session_id")))
        if self.value() == "yes":
            return queryset.filter(recorded)
        if self.value() == "no":
            return queryset.filter(~recorded)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the server writes: the admin lists, shows and (with the permission) deletes them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdmin):
    list_display = [
        "short_session",
        "index",
        "endpoint_slug",
        "started_at",
        "cause",
        "outcome",
        "utterance_seconds",
        "pause_ms",
        "reply_latency_ms",
        "output_latency_ms",
    ]
    list_filter = ["outcome", "cause", "endpoint_slug", ("error", admin.EmptyFieldListFilter)]
    search_fields = ["session__session_id", "endpoint_slug", "error"]
    date_hierarchy = "started_at"

    @admin.display(description="session", ordering="session")
    def short_session(self, obj: Turn) -> SafeString:
        url = reverse("admin:rtcstream_sessionhistory_change", args=[obj.session.pk])
        return format_html('<a href="{}">{}</a>', url, obj.session_id[:12])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Turn]:
        return super().get_queryset(request).select_related("session")


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    list_display = ["session_link", "kind", "seconds", "size", "channels", "dropped_seconds", "created_at"]
    list_filter = ["kind", "storage"]
    search_fields = ["session__session_id", "name"]
    date_hierarchy = "created_at"

    @admin.display(description="session", ordering="session")
    def session_link(self, obj: Recording) -> SafeString:
        url = reverse("admin:rtcstream_sessionhistory_change", args=[obj.session.pk])
        return format_html('<a href="{}">{}</a>', url, obj.session_id[:12])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recording]:
        return super().get_queryset(request).select_related("session")


@admin.register(SessionCharts)
class SessionChartsAdmin(ReadOnlyAdmin):
    """The admin index's "Session charts": this page, not a list."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("rtcstream.view_sessionhistory") or request.user.has_perm(
            "rtcstream.view_sessioncharts"
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        endpoint = request.GET.get("endpoint") or None
        charts = stats.gather(request.GET.get("range", stats.DEFAULT_RANGE), endpoint)
        fmt = "%H:%M" if charts.bucket == "hour" else "%b %d"
        labels = [timezone.localtime(b).strftime(fmt) for b in charts.buckets]
        per = "hour" if charts.bucket == "hour" else "day"
        latency_charts = []
        for slug, points in charts.latency.items():
            by_bucket = {p.bucket: p for p in points}
            series = [
                (name, [getattr(by_bucket[b], name) if b in by_bucket else None for b in charts.buckets])
                for name in ("p50", "p90", "p99")
            ]
            title = f"Reply latency on {slug}: percentiles per {per}"
            latency_charts.append((slug, svg.lines(title, labels, series, unit="ms"), charts.latency_overall[slug]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Session charts",
            "opts": self.model._meta,
            "charts": charts,
            "ranges": list(stats.RANGES),
            "endpoints": sorted(
                StreamSession.objects.filter(started_at__gte=charts.start)
                .order_by("endpoint_slug")
                .values_list("endpoint_slug", flat=True)
                .distinct()
            ),
            "sessions_chart": svg.stacked_bars(
                f"Sessions per {per}",
                labels,
                [("sessions", charts.admitted), ("refused", charts.refused)],
            ),
            "latency_charts": latency_charts,
            "reasons_chart": svg.horizontal_bars("End reasons", charts.end_reasons),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/rtcstream/session_charts.html", context)
