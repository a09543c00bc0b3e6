"""A session's AdditionalOutputs on their way to the page: the entry's hook, its state slots, JSON, a sequence number.

Where each value goes (a state slot or the page), and what the hook is called
with, is the session's ``Wiring`` (``rtcstream.session.inputs``).

Outputs leave in the order they were produced, through an ``Outbox`` that a
stalled page cannot grow, to the outputs socket's channel layer group (so they
reach a page whose outputs socket lives in another process). When the session
ends, the pipeline delivers what is queued, then publishes the end: the
outputs socket closes with its session, however the session ended.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from django.core.serializers.json import DjangoJSONEncoder

from rtcstream import page_json
from rtcstream.execution import calls
from rtcstream.handlers.results import AdditionalOutputs
from rtcstream.media.errors import HandlerOutputError
from rtcstream.reasons import CloseReason
from rtcstream.session.inputs import SessionInputs, StateOutputError
from rtcstream.signalling.outbox import Outbox

CAPACITY = 1024  # undelivered outputs a session holds; the oldest is dropped past that

Publish = Callable[[dict[str, Any]], Awaitable[None]]


class OutputEncoder(DjangoJSONEncoder):
    """Django's encoder (dates, decimals, UUIDs, lazy strings) plus numpy arrays and scalars."""

    def default(self, o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (set, frozenset, tuple)):
            return list(o)
        return super().default(o)


def values_json(values: list[Any]) -> str:
    """``values`` as JSON text, encoded once here for every page that gets them; raise TypeError or
    ValueError naming what cannot be encoded (``page_json.NotFiniteError``, a ValueError, says where a
    NaN or infinity is)."""
    return page_json.dumps(values, name="values", cls=OutputEncoder)


def output_event(seq: int, encoded: str) -> dict[str, Any]:
    """The channel-layer event that carries an output to its outputs socket, whichever process serves it.

    In a rolling restart that process may run the release before this one: the values go as JSON text
    under ``"values"``, which every release since the values were encoded once has read (one release
    named the key ``values_json``; ``event_values_json`` reads it, the releases before it do not)."""
    return {"type": "output", "seq": seq, "values": encoded}


def event_values_json(event: Mapping[str, Any]) -> str:
    """The values of an ``rtcstream.output`` event as JSON text, whichever release published it: JSON
    text under ``"values"`` (``output_event``), or under ``"values_json"`` (one release), or, from
    releases that did not encode them once, the list itself under ``"values"``."""
    if "values_json" in event:
        return str(event["values_json"])
    values = event["values"]
    return values if isinstance(values, str) else values_json(values)


class OutputsPipeline:
    """Turns each ``AdditionalOutputs`` into an ``output`` message and publishes it; ``fail`` hears a bad one."""

    def __init__(
        self,
        session_id: str,
        hook: Callable[..., Any] | None,
        inputs: SessionInputs,
        publish: Publish,
        fail: Callable[[BaseException], None],
        context: contextvars.Context,
    ) -> None:
        self._hook = hook
        self._inputs = inputs
        self._publish = publish
        self._fail = fail
        self._seq = 0
        self._outbox = Outbox(f"session {session_id} outputs", self._deliver, CAPACITY, context=context)

    def put(self, outputs: AdditionalOutputs) -> None:
        """Queue ``outputs`` for the page; safe from any thread."""
        self._outbox.put(outputs)

    async def close(self, reason: CloseReason) -> None:
        """Deliver what is queued (for a moment at most), then tell the outputs socket the session has ended."""
        await self._outbox.flush()
        await self._outbox.close()
        await self._publish({"type": "end", "reason": reason})

    async def _deliver(self, outputs: AdditionalOutputs) -> None:
        values = list(outputs.args)
        if self._hook is not None:
            transformed = await calls.run_sync(self._hook, *self._inputs.hook_arguments(values))
            values = self._inputs.hook_values(transformed)
        try:
            values = self._inputs.take_state(values)  # the state slots' values stay on the server
        except StateOutputError as exc:
            self._fail(exc)
            return
        if not values and self._inputs.state:
            return  # it only updated the state
        try:
            encoded = values_json(values)
        except (TypeError, ValueError) as exc:
            self._fail(HandlerOutputError(f"AdditionalOutputs must hold JSON-serialisable values: {exc}"))
            return
        self._seq += 1
        await self._publish(output_event(self._seq, encoded))
