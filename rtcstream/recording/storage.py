"""Where recordings are stored: a ``settings.STORAGES`` entry, by name."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError, Storage, storages
from django.db import transaction

from rtcstream import conf

logger = logging.getLogger("rtcstream.recording")


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


def delete_file(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    """``post_delete`` of a ``Recording``: delete its file once the deletion is committed."""
    alias, name = instance.storage, instance.name

    def delete() -> None:
        try:
            where = storage(alias)
            if where.exists(name):
                where.delete(name)
        except Exception:
            logger.exception("Could not delete the recording file %r from the storage %r", name, alias)

    transaction.on_commit(delete, using=using)
