"""Endpoints: what a client may connect to, by slug, and with which limits.

An endpoint exposes one registry entry. A row configured in the admin
(``StreamEndpoint``) sets what it sets and inherits the rest from its registry
entry; a slug with no row is the registry entry of the same name, so a site
that never opens the admin still works (unless
``RTCSTREAM["ENDPOINTS_FROM_REGISTRY"]`` is False). Rows are read on every
call, so admin edits apply to the next session without a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtcstream import conf
from rtcstream.endpoints import registry
from rtcstream.endpoints.kinds import Modality, Mode
from rtcstream.endpoints.registry import HandlerSpec

if TYPE_CHECKING:
    from rtcstream.models import StreamEndpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """Everything a session needs to know about where it was opened."""

    slug: str
    spec: HandlerSpec
    mode: Mode
    modality: Modality
    time_limit: float | None
    concurrency_limit: int | None
    label: str
    login_required: bool = False
    allowed_groups: tuple[str, ...] = ()
    ice_servers: list[dict[str, Any]] | None = None
    handler_options: dict[str, Any] = field(default_factory=dict)
    when_full: str = "refuse"  # past the concurrency limit: "refuse", or "wait" in the waiting room
    queue_length: int | None = None  # most clients waiting at once (None: no bound)
    max_wait: float | None = None  # the longest a client waits, in seconds (None: no bound)
    record: bool = False  # record sessions once the page consents (rtcstream.recording)
    row: StreamEndpoint | None = field(default=None, compare=False, repr=False)  # the admin row, if any

    @property
    def effective_ice_servers(self) -> list[dict[str, Any]]:
        return self.ice_servers if self.ice_servers is not None else list(conf.get("ICE_SERVERS"))


def from_spec(spec: HandlerSpec) -> Endpoint:
    """Return the endpoint a registry entry is when no row configures it."""
    return Endpoint(
        slug=spec.name,
        spec=spec,
        mode=spec.mode,
        modality=spec.modality,
        time_limit=spec.time_limit,
        concurrency_limit=spec.concurrency_limit,
        label=spec.label,
        when_full=spec.when_full,
        queue_length=spec.queue_length,
        max_wait=spec.max_wait,
        record=spec.record,
    )


def inherited(own: Any, registry_value: Any) -> Any:
    """A row's limit (time, concurrency, waiting room size, longest wait): its own if set (0: none), else the registry entry's."""
    if own is None:
        return registry_value
    return None if own == 0 else own


def from_row(row: StreamEndpoint) -> Endpoint | None:
    """Return the endpoint an admin row describes (what it leaves empty, the registry entry's), or None
    if its handler cannot serve it."""
    spec = registry.get_handler(row.handler)
    # Settings may have changed since the row was saved: refuse rather than guess.
    if spec is None:
        logger.error("Endpoint %r names handler %r, which is not in RTCSTREAM['HANDLERS'].", row.slug, row.handler)
        return None
    mode, modality = row.mode or spec.mode, row.modality or spec.modality
    if not spec.kind.can_serve(mode, modality):
        logger.error(
            "Endpoint %r: handler %r (a %s) cannot serve mode=%r modality=%r.",
            row.slug,
            row.handler,
            spec.kind.label,
            mode,
            modality,
        )
        return None
    return Endpoint(
        slug=row.slug,
        spec=spec,
        mode=mode,  # type: ignore[arg-type]  # checked by can_serve above
        modality=modality,  # type: ignore[arg-type]
        time_limit=inherited(row.time_limit, spec.time_limit),
        concurrency_limit=inherited(row.concurrency_limit, spec.concurrency_limit),
        label=row.label or spec.label,
        login_required=row.login_required,
        allowed_groups=tuple(sorted(group.name for group in row.allowed_groups.all())),
        ice_servers=row.ice_servers,
        handler_options=dict(row.handler_options or {}),
        when_full=row.when_full or spec.when_full,
        queue_length=inherited(row.queue_length, spec.queue_length),
        max_wait=inherited(row.max_wait, spec.max_wait),
        record=spec.record if row.record is None else row.record,  # not inherited(): False is a value here
        row=row,
    )


def _endpoints_from_registry() -> bool:
    return bool(conf.get("ENDPOINTS_FROM_REGISTRY"))


def get_endpoint(slug: str) -> Endpoint | None:
    """Return the enabled endpoint called ``slug``, or None. Touches the database: call it from a thread."""
    from rtcstream.models import StreamEndpoint  # models need the app registry; this module must not

    row = StreamEndpoint.objects.filter(slug=slug).prefetch_related("allowed_groups").first()
    if row is not None:
        return from_row(row) if row.enabled else None
    if not _endpoints_from_registry():
        return None
    spec = registry.get_handler(slug)
    return from_spec(spec) if spec is not None else None


def is_allowed(endpoint: Endpoint, user: Any) -> bool:
    """Tell whether ``user`` (a user, AnonymousUser or None) may open a session on ``endpoint``.

    Allowed groups imply login required; superusers pass the group check.
    Touches the database when the endpoint has allowed groups.
    """
    if not endpoint.login_required and not endpoint.allowed_groups:
        return True
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if not endpoint.allowed_groups or user.is_superuser:
        return True
    return user.groups.filter(name__in=endpoint.allowed_groups).exists()
