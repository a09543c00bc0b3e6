"""A handler module that needs soxr, imported by tests/test_checks.py while soxr is hidden."""

import soxr  # noqa: F401


def handler(frame):
    return frame
