"""Build module-level handlers on first use.

``ReplyOnPause`` loads a voice activity model; building it lazily keeps
``import rtcproject.demos.audio`` cheap for the handlers that do not need it, and
lets the other demos work on a checkout where it is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def lazy_attributes(namespace: dict[str, Any], factories: dict[str, Callable[[], Any]]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that builds ``factories[name]()`` once and caches it in ``namespace``."""

    def __getattr__(name: str) -> Any:
        factory = factories.get(name)
        if factory is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = namespace[name] = factory()
        return value

    return __getattr__


def reply_on_pause(fn: Callable[..., Any], **options: Any) -> Any:
    """Return ``ReplyOnPause(fn, **options)``; raise ImportError (named) if rtcstream lacks it."""
    from rtcstream.handlers.reply_on_pause import ReplyOnPause

    return ReplyOnPause(fn, **options)
