"""Who opened a signalling socket, read once from its scope: the user, their groups and the Django session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser


@dataclass(frozen=True)
class Visitor:
    user: Any = field(default_factory=AnonymousUser)
    groups: frozenset[str] = frozenset()
    django_session: Any = None

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))


def load_visitor(scope: dict[str, Any]) -> Visitor:
    """Read the scope's user, their group names and the Django session's data. Touches the database: call it from a thread.

    Channels' ``AuthMiddlewareStack`` has already resolved ``scope["user"]``;
    its groups and the session's data are read here so that a handler reading
    them on the event loop never queries the database.
    """
    user = scope.get("user") or AnonymousUser()
    groups: frozenset[str] = frozenset()
    if getattr(user, "is_authenticated", False):
        groups = frozenset(user.groups.values_list("name", flat=True))
    django_session = scope.get("session")
    if django_session is not None:
        django_session.keys()  # loads its data into the store's cache
    return Visitor(user, groups, django_session)
