"""Where recordings are stored: a ``settings.STORAGES`` entry, by name."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError, Storage, storages

from rtcstream import conf


def recording_alias() -> str:
    """The STORAGES name new recordings go to (``RTCSTREAM["RECORDING_STORAGE"]``; None: "default")."""
    alias = conf.get("RECORDING_STORAGE") or "default"
    if not isinstance(alias, str):
        raise ImproperlyConfigured(
            f'RTCSTREAM["RECORDING_STORAGE"] must be a name in settings.STORAGES (or None), not {alias!r}.'
        )
    return alias


def storage(alias: str) -> Storage:
    """The storage called ``alias`` in settings.STORAGES ("default" is ``default_storage``)."""
    try:
        return storages[alias]
    except InvalidStorageError as exc:
        raise ImproperlyConfigured(
            f"Recordings are kept in the storage {alias!r}, which settings.STORAGES does not define: {exc}"
        ) from exc
