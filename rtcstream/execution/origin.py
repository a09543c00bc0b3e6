"""Whose code is it: rtcstream's or the site's.

One rule, by module name: code in the ``rtcstream`` package is rtcstream's,
anything else (the site's project, its tests, a third-party library) is not.
It decides what runs where (a site's override of a detector runs in the worker
pool) and which line a warning names (the site's, not rtcstream's).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["is_rtcstreams", "site_stacklevel"]

PACKAGE = "rtcstream"


def _in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def is_rtcstreams(code: Any) -> bool:
    """True when ``code`` (a function, method or class) is defined in rtcstream, not by a site."""
    module = getattr(code, "__module__", None)
    return isinstance(module, str) and _in_package(module)


def site_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel, counted from the caller, of the first frame outside rtcstream.

    A warning raised with it names the site's line that called into rtcstream,
    however many of rtcstream's own calls lie between.
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and _in_package(frame.f_globals.get("__name__", "")):
        frame, level = frame.f_back, level + 1
    return level
