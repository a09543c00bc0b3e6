"""The transcript lines a handler's ``AdditionalOutputs`` carry.

A value that is a string is a line; a chat message, ``{"role": ..., "content": "text"}``
(what ``render="chat"`` shows), is a line said by its role. Anything else (numbers,
arrays, lists such as a whole chat history) is not transcript. A handler whose
outputs hold no text adds lines itself: ``self.context.add_transcript(role, text)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_LINE_CHARS = 10_000


def lines_from_outputs(values: Iterable[Any]) -> list[tuple[str, str]]:
    """Return the ``(role, text)`` lines among one ``AdditionalOutputs``' values."""
    lines = []
    for value in values:
        if isinstance(value, str) and value.strip():
            lines.append(("", value[:MAX_LINE_CHARS]))
        elif isinstance(value, dict) and isinstance(value.get("content"), str) and value["content"].strip():
            role = value.get("role")
            lines.append((role if isinstance(role, str) else "", value["content"][:MAX_LINE_CHARS]))
    return lines
