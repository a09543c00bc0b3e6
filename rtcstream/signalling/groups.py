"""The channel layer groups a session's sockets meet in, in whatever process each runs."""

from __future__ import annotations


def session_group(session_id: str) -> str:
    """The group a session's signalling consumer listens on (control messages: terminate, probe)."""
    return f"rtcstream.session.{session_id}"


def outputs_group(session_id: str) -> str:
    """The group a session's outputs (and its ``end``) are published to."""
    return f"rtcstream.outputs.{session_id}"
