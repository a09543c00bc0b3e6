"""The numbers behind the ledger's charts: sessions per hour, reply latency percentiles per endpoint, end reasons.

Counts are aggregated by the database; percentiles are computed here (SQLite
has none), from the latencies of the range, at most ``MAX_LATENCIES`` of them
(the newest). Buckets are the site's hours or days (``TIME_ZONE``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

# name -> (how far back, bucket)
RANGES: dict[str, tuple[datetime.timedelta, str]] = {
    "24h": (datetime.timedelta(hours=24), "hour"),
    "7d": (datetime.timedelta(days=7), "hour"),
    "30d": (datetime.timedelta(days=30), "day"),
    "90d": (datetime.timedelta(days=90), "day"),
}
DEFAULT_RANGE = "24h"
PERCENTILES = (50, 90, 99)
MAX_LATENCIES = 200_000


@dataclass(frozen=True)
class LatencyPoint:
    """One endpoint's reply latency in one bucket: percentiles in ms (linear interpolation) over ``count`` turns."""

    bucket: datetime.datetime
    count: int
    p50: float
    p90: float
    p99: float


@dataclass
class Charts:
    range: str
    bucket: str  # "hour" or "day"
    start: datetime.datetime
    end: datetime.datetime
    buckets: list[datetime.datetime]
    endpoint: str | None
    admitted: list[int]  # sessions admitted (live or ended) per bucket
    refused: list[int]
    latency: dict[str, list[LatencyPoint]]  # per endpoint, the buckets that had turns
    latency_overall: dict[str, LatencyPoint]  # per endpoint, the whole range
    end_reasons: list[tuple[str, int]]  # most frequent first
    totals: dict[str, float] = field(default_factory=dict)
    latencies_truncated: bool = False


def floor(moment: datetime.datetime, bucket: str) -> datetime.datetime:
    """The start of ``moment``'s bucket, in the current time zone."""
    local = timezone.localtime(moment)
    local = local.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        local = local.replace(hour=0)
    return local


def following(start: datetime.datetime, bucket: str) -> datetime.datetime:
    """The start of the bucket after the one that starts at ``start`` (a day may be 23 or 25 hours long)."""
    step = datetime.timedelta(hours=1) if bucket == "hour" else datetime.timedelta(hours=26)
    return floor(start + step, bucket)


def bucket_starts(start: datetime.datetime, end: datetime.datetime, bucket: str) -> list[datetime.datetime]:
    starts, moment = [], start
    while moment < end:
        starts.append(moment)
        moment = following(moment, bucket)
    return starts


def percentiles(values: list[float]) -> tuple[float, float, float]:
    p50, p90, p99 = (float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), PERCENTILES))
    return round(p50, 1), round(p90, 1), round(p99, 1)


def gather(
    range_name: str = DEFAULT_RANGE, endpoint: str | None = None, now: datetime.datetime | None = None
) -> Charts:
    """Compute the charts of the last ``range_name`` (a key of ``RANGES``), for one endpoint or all."""
    from rtcstream.models import SessionStatus, StreamSession, Turn

    span, bucket = RANGES.get(range_name, RANGES[DEFAULT_RANGE])
    range_name = range_name if range_name in RANGES else DEFAULT_RANGE
    now = now or timezone.now()
    end = following(floor(now, bucket), bucket)  # the current bucket is the last one shown
    start = floor(end - span, bucket)
    buckets = bucket_starts(start, end, bucket)
    index = {b: i for i, b in enumerate(buckets)}
    trunc = TruncHour if bucket == "hour" else TruncDay

    sessions = StreamSession.objects.filter(started_at__gte=start, started_at__lt=end)
    turns = Turn.objects.filter(started_at__gte=start, started_at__lt=end)
    if endpoint:
        sessions = sessions.filter(endpoint_slug=endpoint)
        turns = turns.filter(endpoint_slug=endpoint)

    admitted, refused = [0] * len(buckets), [0] * len(buckets)
    per_bucket = (
        sessions.annotate(bucket=trunc("started_at", tzinfo=timezone.get_current_timezone()))
        .values("bucket")
        .annotate(refused=Count("pk", filter=Q(state=SessionStatus.REFUSED)), total=Count("pk"))
        .order_by()
    )
    for row in per_bucket:
        i = index.get(floor(row["bucket"], bucket))
        if i is not None:
            refused[i] += row["refused"]
            admitted[i] += row["total"] - row["refused"]

    reasons = (
        sessions.exclude(state=SessionStatus.LIVE)
        .values("end_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "end_reason")
    )
    end_reasons = [(row["end_reason"] or "(none)", row["n"]) for row in reasons]

    rows = list(
        turns.exclude(reply_latency_ms=None)
        .order_by("-started_at")
        .values_list("endpoint_slug", "started_at", "reply_latency_ms")[:MAX_LATENCIES]
    )
    grouped: dict[str, dict[datetime.datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    overall: dict[str, list[float]] = defaultdict(list)
    for slug, started, ms in rows:
        assert ms is not None  # excluded above
        grouped[slug][floor(started, bucket)].append(ms)
        overall[slug].append(ms)
    latency = {
        slug: [LatencyPoint(b, len(v), *percentiles(v)) for b, v in sorted(by_bucket.items())]
        for slug, by_bucket in sorted(grouped.items())
    }
    latency_overall = {slug: LatencyPoint(start, len(v), *percentiles(v)) for slug, v in sorted(overall.items())}

    summed = sessions.aggregate(
        seconds=Sum("media_seconds"),
        turns=Sum("turn_count"),
        interruptions=Sum("interruption_count"),
        warnings=Sum("warning_count"),
    )
    totals = {
        "sessions": sum(admitted),
        "refused": sum(refused),
        "minutes": round((summed["seconds"] or 0.0) / 60, 1),
        "turns": summed["turns"] or 0,
        "interruptions": summed["interruptions"] or 0,
        "errors": sessions.exclude(error="").count(),
        "warnings": summed["warnings"] or 0,
    }
    return Charts(
        range=range_name,
        bucket=bucket,
        start=start,
        end=end,
        buckets=buckets,
        endpoint=endpoint or None,
        admitted=admitted,
        refused=refused,
        latency=latency,
        latency_overall=latency_overall,
        end_reasons=end_reasons,
        totals=totals,
        latencies_truncated=len(rows) == MAX_LATENCIES,
    )
