"""Make AdditionalOutputs values JSON-safe before they cross the channel layer."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from django.core.serializers.json import DjangoJSONEncoder


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


def to_json_values(values: list[Any]) -> list[Any]:
    """Return ``values`` as plain JSON data; raise TypeError naming what cannot be encoded."""
    return json.loads(json.dumps(values, cls=OutputEncoder))
