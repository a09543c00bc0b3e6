"""Values a handler returns besides media."""

from __future__ import annotations

from typing import Any


class AdditionalOutputs:
    """Values for other parts of the page, yielded or returned by any handler.

    Each positional argument becomes one entry of the ``values`` list that the
    outputs socket delivers; values must be JSON-serialisable (numpy arrays and
    scalars are converted).
    """

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __repr__(self) -> str:
        return f"AdditionalOutputs{self.args!r}"


class CloseStream:
    """Returned or yielded by a handler to end its session from the server."""

    def __init__(self, msg: str = "Stream closed") -> None:
        self.msg = msg

    def __repr__(self) -> str:
        return f"CloseStream({self.msg!r})"
