"""Quotas: how many minutes a day, and how many sessions at once, a user may stream.

The limits are ``Quota`` rows (the admin edits them): a user's own row holds
them to it; otherwise the most generous of their groups' rows applies, field by
field (an empty field is no limit); a user with neither, like an anonymous
visitor, has none. Use is read from the session rows admission keeps: the
sessions live now, and the time each session held its seat today (from
admission to its end; time spent in a waiting room is not counted). The day
ends at midnight in ``settings.TIME_ZONE``.

Admission checks both before it grants a seat, under a per-user lock
(``DatabaseAdmission``), so they hold exactly across processes; while a session
lives, its ``AccountWatch`` counts the minutes down and ends it when none are left.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from rtcstream.admission.refusals import QuotaMinutesReached, QuotaSessionsReached, Refused


@dataclass(frozen=True)
class Limits:
    """What a user may use; None is no limit."""

    minutes_per_day: float | None = None
    concurrent_sessions: int | None = None

    @property
    def any(self) -> bool:
        return self.minutes_per_day is not None or self.concurrent_sessions is not None


def most_generous(values: Iterable[Any]) -> Any:
    """The loosest of several groups' limits: none if any group sets none, else the largest."""
    values = list(values)
    return None if not values or any(v is None for v in values) else max(values)


def limits_for(user_id: Any, alias: str) -> Limits:
    """The user's own quota, else the most generous of their groups' quotas, else none."""
    from rtcstream.models import Quota

    rows = Quota.objects.using(alias)
    own = rows.filter(user_id=user_id).first()
    if own is not None:
        return Limits(own.minutes_per_day, own.concurrent_sessions)
    groups = list(rows.filter(group__user__pk=user_id))
    if not groups:
        return Limits()
    return Limits(
        most_generous(q.minutes_per_day for q in groups), most_generous(q.concurrent_sessions for q in groups)
    )


def today(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The start and end of ``now``'s day in the current time zone (``settings.TIME_ZONE``)."""
    local = timezone.localtime(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = timezone.make_aware(datetime.datetime.combine(start.date() + datetime.timedelta(days=1), datetime.time()))
    return start, end


@dataclass(frozen=True)
class Standing:
    """A user's quota and what they have used of it, at ``at``."""

    limits: Limits
    seconds_used: float  # today, by every session that held a seat
    live: int  # sessions holding a seat now
    at: datetime.datetime
    resets_at: datetime.datetime  # the next midnight

    @property
    def seconds_left(self) -> float | None:
        """Seconds left today, or None without a daily limit."""
        if self.limits.minutes_per_day is None:
            return None
        return max(0.0, self.limits.minutes_per_day * 60 - self.seconds_used)

    def refusal(self) -> Refused | None:
        """Why a new session of this user is refused, or None if it may have a seat."""
        left = self.seconds_left
        if left is not None and left <= 0:
            return QuotaMinutesReached(self.limits.minutes_per_day or 0.0)
        limit = self.limits.concurrent_sessions
        if limit is not None and self.live >= limit:
            return QuotaSessionsReached(limit)
        return None

    def as_data(self) -> dict[str, Any] | None:
        """What the page is told (the ``session`` message, ``quota`` events), or None without limits."""
        if not self.limits.any:
            return None
        left = self.seconds_left
        return {
            "minutes_per_day": self.limits.minutes_per_day,
            "seconds_left": None if left is None else round(left, 1),
            "concurrent_sessions": self.limits.concurrent_sessions,
            "resets_at": self.resets_at.isoformat(),
        }


def standing(
    user_id: Any, alias: str, *, fresh_after: datetime.datetime, now: datetime.datetime | None = None
) -> Standing:
    """Read the user's limits and use. Sessions whose heartbeat is older than ``fresh_after`` are not live any more."""
    from rtcstream.models import SessionStatus, StreamSession

    now = now or timezone.now()
    start, end = today(now)
    limits = limits_for(user_id, alias)
    if not limits.any:
        return Standing(limits, 0.0, 0, now, end)
    rows = StreamSession.objects.using(alias).filter(user_id=user_id)
    live = rows.filter(state=SessionStatus.LIVE, heartbeat_at__gte=fresh_after).count()
    used = 0.0
    if limits.minutes_per_day is not None:
        held = rows.filter(state__in=(SessionStatus.LIVE, SessionStatus.ENDED), started_at__lt=end).exclude(
            ended_at__lt=start
        )
        for began, ended in held.values_list("started_at", "ended_at"):
            used += max(0.0, (min(ended or now, now) - max(began, start)).total_seconds())
    return Standing(limits, used, live, now, end)
