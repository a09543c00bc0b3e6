"""The handler registry: names in ``RTCSTREAM["HANDLERS"]``, resolved once and validated.

Nothing a client sends reaches ``import_string``: clients name endpoints, and
endpoints name entries of this registry, which only settings can fill.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from rtcstream import conf
from rtcstream.components import Component
from rtcstream.endpoints.install_hints import install_hint, missing_hint
from rtcstream.endpoints.kinds import KINDS, HandlerKind, Modality, Mode, kind_of
from rtcstream.endpoints.wiring import Declared, wire
from rtcstream.handlers.base import StreamHandlerBase
from rtcstream.handlers.video_handler import VideoStreamHandler
from rtcstream.media.video import COLORS, DEFAULT_COLOR, Color
from rtcstream.runtime import get_runtime
from rtcstream.session.inputs import Wiring
from rtcstream.stream import Stream

logger = logging.getLogger("rtcstream.endpoints")

ENTRY_KEYS = {
    "handler",
    "mode",
    "modality",
    "time_limit",
    "concurrency_limit",
    "on_additional_outputs",
    "label",
    "fps",
    "color",
    "state",
    "text",
    "additional_inputs",  # gradio-style components (rtcstream.components), as FastRTC's Stream lists them
    "additional_outputs",
    "when_full",
    "queue_length",
    "max_wait",
    "record",
}
WHEN_FULL = ("refuse", "wait")


class RegistryError(ImproperlyConfigured):
    """A registry entry is wrong; the message names the entry and ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str = "Fix the entry in settings.RTCSTREAM['HANDLERS'].") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class HandlerSpec:
    """One resolved registry entry."""

    name: str
    path: str
    handler: Any
    kind: HandlerKind
    mode: Mode
    modality: Modality
    time_limit: float | None
    concurrency_limit: int | None
    on_additional_outputs: Callable[..., Any] | None
    label: str
    fps: float = 30.0
    color: Color = DEFAULT_COLOR  # channel order of the video arrays user code gets and gives
    text: bool = False  # the page may submit text to the handler (the kind's ``takes_text`` says how it gets it)
    # Where additional inputs come from and outputs go: state slots and the page (rtcstream.session.inputs).
    wiring: Wiring = Wiring()
    page_inputs: tuple[Component, ...] = ()  # components {% webrtc %} renders beside the widget
    page_outputs: tuple[Component, ...] = ()
    when_full: str = "refuse"  # past the concurrency limit: "refuse", or "wait" in the waiting room
    queue_length: int | None = None  # most clients waiting at once (None: no bound)
    max_wait: float | None = None  # longest wait in seconds (None: no bound)
    record: bool = False  # record sessions (with the page's consent): rtcstream.recording

    @property
    def state(self) -> tuple[Any, ...]:
        """Initial values of the per-session state slots."""
        return self.wiring.state

    def new_handler(self, options: dict[str, Any] | None = None) -> Any:
        """Return what one session runs: a fresh copy for stream handlers.

        ``options`` (an endpoint's settings of the kind's ``endpoint_options``,
        such as ReplyOnPause's pause length) go to the copy's ``configure(**options)``.
        """
        if not self.kind.per_session_copy:
            return self.handler
        handler = self.handler.copy()
        if handler is self.handler:
            raise RegistryError(
                f"RTCSTREAM['HANDLERS'][{self.name!r}]: copy() returned the handler itself, which every session "
                "would then share (one visitor's audio and inputs reaching another).",
                f"Make copy() return a new handler: return {type(self.handler).__name__}(...).",
            )
        if options and self.kind.endpoint_options:
            handler.configure(**options)
        return handler


def _optional_number(name: str, key: str, value: Any, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}]['{key}'] must be a positive number or None, not {value!r}."
        )
    return kind(value)


def _import(name: str, path: str, what: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        message = f"RTCSTREAM['HANDLERS'][{name!r}]: cannot import {what} {path!r}: {exc}"
        hint = install_hint(exc)
        raise (RegistryError(message, hint) if hint else RegistryError(message)) from exc


def _declared(name: str, entry: Any) -> tuple[str, dict[str, Any]]:
    """The entry's dotted path, and the entry with its handler imported.

    A path to a ``Stream`` gives the Stream's entry, under the keys the settings add.
    """
    if isinstance(entry, str):
        entry = {"handler": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("handler"), str):
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}] must be a dotted path or a dict with a 'handler' dotted path, not {entry!r}."
        )
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}] has unknown keys {sorted(unknown)}; allowed: {sorted(ENTRY_KEYS)}."
        )
    path = entry["handler"]
    handler = _import(name, path, "handler")
    if not isinstance(handler, Stream):
        return path, {**entry, "handler": handler}
    if handler.unused():
        logger.warning(
            "RTCSTREAM['HANDLERS'][%r] = %r: rtcstream does not use %s (ICE servers come from "
            "RTCSTREAM['ICE_SERVERS'] and ['TURN'], media constraints from the widget).",
            name,
            path,
            ", ".join(handler.unused()),
        )
    return path, {**handler.entry(), **{key: value for key, value in entry.items() if key != "handler"}}


def _wiring(name: str, entry: dict[str, Any]) -> Declared:
    state = entry.get("state", ())
    if not isinstance(state, (list, tuple)):
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}]['state'] must be a list of initial values, one per state slot "
            f"(like gr.State(value=...)), not {state!r}."
        )
    components = [entry.get(key, []) for key in ("additional_inputs", "additional_outputs")]
    if not any(components):
        return Declared(Wiring.state_first(state))
    if state:
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}] has both 'state' and additional_inputs/outputs: "
            "declare state slots as State components among them instead."
        )
    try:
        return wire(*(list(c) for c in components))
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"RTCSTREAM['HANDLERS'][{name!r}]: {exc}.") from exc


def resolve_entry(name: str, entry: Any) -> HandlerSpec:
    """Resolve one ``HANDLERS`` entry (a dotted path, a dict, or a dotted path to a ``Stream``) into a ``HandlerSpec``."""
    path, entry = _declared(name, entry)
    if isinstance(entry["handler"], VideoStreamHandler):
        entry = entry["handler"].entry(entry)
    handler = entry["handler"]
    if isinstance(handler, type) and issubclass(handler, StreamHandlerBase):
        handler = handler()
    try:
        kind = kind_of(handler)
    except TypeError as exc:
        raise RegistryError(f"RTCSTREAM['HANDLERS'][{name!r}] = {path!r}: {exc}.") from exc
    missing = missing_hint(kind.needs_of(handler))
    if missing is not None:
        module, hint = missing
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}] = {path!r} is a {kind.label}, which needs {module!r}: it is not installed.",
            hint,
        )
    default_mode, default_modality = kind.default
    mode = entry.get("mode", default_mode)
    modality = entry.get("modality", default_modality)
    if not kind.can_serve(mode, modality):
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}] = {path!r} is a {kind.label}, "
            f"which cannot serve mode={mode!r} modality={modality!r}; it can serve: {kind.describe_serves()}."
        )
    hook = entry.get("on_additional_outputs")
    if isinstance(hook, str):
        hook = _import(name, hook, "on_additional_outputs hook")
    if hook is not None and not callable(hook):
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}]['on_additional_outputs'] must be callable or a dotted path."
        )
    color = entry.get("color", DEFAULT_COLOR)
    if color not in COLORS:
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}]['color'] must be one of {sorted(COLORS)} "
            f"(the channel order of video frames), not {color!r}."
        )
    text = entry.get("text", False)
    if not isinstance(text, bool):
        raise RegistryError(f"RTCSTREAM['HANDLERS'][{name!r}]['text'] must be True or False, not {text!r}.")
    if text and not kind.takes_text:
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}] = {path!r} is a {kind.label}, which takes no text; "
            f'"text": True needs one of: {", ".join(k.label for k in KINDS if k.takes_text)}.'
        )
    declared = _wiring(name, entry)
    when_full = entry.get("when_full", conf.get("DEFAULT_WHEN_FULL"))
    if when_full not in WHEN_FULL:
        raise RegistryError(
            f"RTCSTREAM['HANDLERS'][{name!r}]['when_full'] must be one of {list(WHEN_FULL)}, not {when_full!r}."
        )
    record = entry.get("record", False)
    if not isinstance(record, bool):
        raise RegistryError(f"RTCSTREAM['HANDLERS'][{name!r}]['record'] must be True or False, not {record!r}.")
    return HandlerSpec(
        name=name,
        path=path,
        handler=handler,
        kind=kind,
        mode=mode,
        modality=modality,
        time_limit=_optional_number(name, "time_limit", entry.get("time_limit", conf.get("DEFAULT_TIME_LIMIT")), float),
        concurrency_limit=_optional_number(
            name, "concurrency_limit", entry.get("concurrency_limit", conf.get("DEFAULT_CONCURRENCY_LIMIT")), int
        ),
        on_additional_outputs=hook,
        label=str(entry.get("label") or name.replace("-", " ").replace("_", " ").capitalize()),
        fps=_optional_number(name, "fps", entry.get("fps", 30), float),
        color=color,
        wiring=declared.wiring,
        page_inputs=declared.inputs,
        page_outputs=declared.outputs,
        text=text,
        when_full=when_full,
        queue_length=_optional_number(
            name, "queue_length", entry.get("queue_length", conf.get("DEFAULT_QUEUE_LENGTH")), int
        ),
        max_wait=_optional_number(name, "max_wait", entry.get("max_wait", conf.get("DEFAULT_MAX_WAIT")), float),
        record=record,
    )


class Registry:
    """The entries of ``RTCSTREAM["HANDLERS"]``, each resolved (imported and checked) the first time it is asked for.

    One per process, in ``rtcstream.runtime``; thread-safe (the admin and checks
    ask from threads, sessions from the event loop).
    """

    def __init__(self, entries: dict[str, Any]) -> None:
        self._entries = dict(entries)
        self._resolved: dict[str, HandlerSpec] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> HandlerSpec | None:
        """Return the resolved entry called ``name``, or None if settings name no such handler."""
        if name not in self._entries:
            return None
        with self._lock:
            if name not in self._resolved:
                self._resolved[name] = resolve_entry(name, self._entries[name])
            return self._resolved[name]

    def names(self) -> list[str]:
        return list(self._entries)


def get_handler(name: str) -> HandlerSpec | None:
    """Return the resolved entry called ``name`` (``RegistryError`` if it is wrong), or None if there is none."""
    return get_runtime().registry.get(name)


def handler_names() -> list[str]:
    return get_runtime().registry.names()


def validate_all() -> list[RegistryError]:
    """Resolve every entry; return the errors instead of raising them."""
    errors = []
    for name in handler_names():
        try:
            get_handler(name)
        except RegistryError as exc:
            errors.append(exc)
    return errors
