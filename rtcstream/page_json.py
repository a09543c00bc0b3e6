"""JSON to and from a page: RFC 8259's, which has no NaN or infinity.

Python's ``json.dumps`` writes a float NaN or infinity as ``NaN`` or ``Infinity``
unless told not to (and Python's ``json.loads`` reads them back), but a browser's
``JSON.parse`` throws on the whole text: the widget drops such a frame with a
console warning, and the visitor never sees it. Everything rtcstream serialises
for a page (its websocket messages, its outputs, the components' values in the
HTML) goes through ``dumps``, which refuses them and says where they are. What a
page (or any client) sends is read by ``loads``, which refuses them as a browser would.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

ADVICE = "JSON has no NaN or infinity; send None or a number"


class NotFiniteError(ValueError):
    """A float NaN or infinity in what would go to a page; the message says where it is."""


def dumps(
    value: Any, *, name: str = "the value", cls: type[json.JSONEncoder] | None = None, indent: int | None = None
) -> str:
    """``value`` as JSON text (``json.dumps`` with ``cls`` and ``indent``).

    A float NaN or infinity in it raises ``NotFiniteError`` naming its place, with ``value`` called
    ``name``: ``values[1]['level'] is NaN: ...``. Anything else JSON cannot hold raises what
    ``json.dumps`` raises (a ``TypeError`` for an object it cannot encode).
    """
    try:
        return json.dumps(value, cls=cls, indent=indent, allow_nan=False)
    except ValueError:
        place = _non_finite_place(value, name, cls)
        if place is None:
            raise  # not a number's fault: a circular reference, or the encoder's own refusal
        raise NotFiniteError(f"{place}: {ADVICE}") from None


def loads(text: str) -> Any:
    """The value of the JSON ``text``; ``NaN``, ``Infinity`` and ``-Infinity``, which Python's ``json.loads``
    reads as floats and a browser's ``JSON.parse`` throws on, raise ``NotFiniteError`` (a ``ValueError``, as
    any text that is not JSON raises)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> NoReturn:
    raise NotFiniteError(f"it holds {name}, which JSON does not have")


def _non_finite_place(value: Any, name: str, cls: type[json.JSONEncoder] | None) -> str | None:
    """Where the first NaN or infinity in ``value`` is, as the encoder sees it; None if it encodes without one."""
    try:
        plain = json.loads(json.dumps(value, cls=cls))  # Python's json reads NaN and Infinity back as floats
    except ValueError:
        return None  # it fails with NaN allowed too: something else is wrong
    stack: list[tuple[str, Any]] = [(name, plain)]
    while stack:
        place, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{place} is {'NaN' if math.isnan(item) else repr(item)}"
        if isinstance(item, dict):
            stack.extend((f"{place}[{key!r}]", child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{place}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return f"a dict key in {name} is NaN or infinite"  # a float key: json writes it as the string "NaN"
