"""FastRTC's ``Stream(...)`` declaration, as an alternative to a settings entry.

A module declares ``stream = Stream(handler, modality=..., mode=...,
additional_inputs=[...], ...)`` as in FastRTC; settings name it by dotted path
(``RTCSTREAM["HANDLERS"]["talk"] = "myapp.app.stream"``) and the registry reads
it as the entry ``Stream.entry()`` returns (settings may add or override keys of
that entry). ``{% webrtc "talk" %}`` then renders the stream's components
beside the widget. What has no meaning in a Django site (``stream.ui``,
``mount``, ``fastphone``) raises, saying what to do instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

USE_INSTEAD = (
    "rtcstream has no gradio UI: name this Stream in settings.RTCSTREAM['HANDLERS'] "
    '(e.g. "talk": "myapp.app.stream") and put {% webrtc "talk" %} on a page (docs/guide.md, "Moving a FastRTC app").'
)


class Stream:
    """A handler with its mode, modality, limits and page components, in FastRTC's words.

    ``concurrency_limit``: ``"default"`` keeps the site's ``DEFAULT_CONCURRENCY_LIMIT``,
    None means no limit (in FastRTC both mean 1). ``time_limit`` None keeps the
    site's ``DEFAULT_TIME_LIMIT``. ``additional_outputs_handler`` is the entry's
    ``on_additional_outputs``, called as FastRTC calls it: with the current
    value of each of ``additional_outputs``, then the new values.
    ``ui_args["title"]`` is the widget's label. ``allow_extra_tracks`` is always
    so (unused tracks are read and dropped).
    """

    def __init__(
        self,
        handler: Any,
        *,
        additional_outputs_handler: Callable[..., Any] | None = None,
        mode: Literal["send-receive", "send", "receive"] = "send-receive",
        modality: Literal["video", "audio", "audio-video"] = "video",
        concurrency_limit: int | None | Literal["default"] = "default",
        time_limit: float | None = None,
        allow_extra_tracks: bool = False,
        rtp_params: dict[str, Any] | None = None,
        rtc_configuration: Any = None,
        server_rtc_configuration: Any = None,
        track_constraints: dict[str, Any] | None = None,
        additional_inputs: Sequence[Any] | None = None,
        additional_outputs: Sequence[Any] | None = None,
        ui_args: dict[str, Any] | None = None,
        verbose: bool = True,
    ) -> None:
        self.handler = handler
        self.additional_outputs_handler = additional_outputs_handler
        self.mode = mode
        self.modality = modality
        self.concurrency_limit = concurrency_limit
        self.time_limit = time_limit
        self.additional_inputs = list(additional_inputs or [])
        self.additional_outputs = list(additional_outputs or [])
        self.ui_args = dict(ui_args or {})
        # Not used: ICE servers come from settings (ICE_SERVERS, TURN), media constraints from the
        # widget. Given ones are logged when the entry is resolved.
        self._unused = {
            "rtp_params": rtp_params,
            "rtc_configuration": rtc_configuration,
            "server_rtc_configuration": server_rtc_configuration,
            "track_constraints": track_constraints,
        }

    def entry(self) -> dict[str, Any]:
        """The registry entry this declaration stands for (its ``handler`` is the handler object)."""
        entry: dict[str, Any] = {"handler": self.handler, "mode": self.mode, "modality": self.modality}
        if self.concurrency_limit != "default":
            entry["concurrency_limit"] = self.concurrency_limit
        if self.time_limit is not None:
            entry["time_limit"] = self.time_limit
        if self.additional_outputs_handler is not None:
            entry["on_additional_outputs"] = self.additional_outputs_handler
        if self.ui_args.get("title"):
            entry["label"] = str(self.ui_args["title"])
        if self.additional_inputs:
            entry["additional_inputs"] = self.additional_inputs
        if self.additional_outputs:
            entry["additional_outputs"] = self.additional_outputs
        return entry

    def unused(self) -> list[str]:
        """The arguments given that rtcstream does not use (the registry logs them)."""
        names = [name for name, value in self._unused.items() if value is not None]
        return names + [f"ui_args[{key!r}]" for key in sorted(self.ui_args) if key != "title"]

    @property
    def ui(self) -> Any:
        raise NotImplementedError(USE_INSTEAD)

    def mount(self, app: Any, path: str = "", tags: Any = None) -> None:
        raise NotImplementedError(USE_INSTEAD)

    def fastphone(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(USE_INSTEAD)

    def __repr__(self) -> str:
        return f"Stream({self.handler!r}, mode={self.mode!r}, modality={self.modality!r})"
