"""A cap on the signalling sockets one client address may hold open in this process."""

from __future__ import annotations

import collections

from . import conf

_open: collections.Counter[str] = collections.Counter()


def try_open(address: str | None) -> bool:
    """Count one more socket for ``address``; False if it already holds the maximum."""
    if address is None:
        return True
    cap = conf.get("MAX_SESSIONS_PER_CLIENT")
    if cap is not None and _open[address] >= cap:
        return False
    _open[address] += 1
    return True


def close(address: str | None) -> None:
    if address is None:
        return
    _open[address] -= 1
    if _open[address] <= 0:
        del _open[address]
