"""Each private hook rtcstream relies on is there on the pinned versions, and its absence is a
system check error that names it (rtcstream.checks.hooks)."""

from __future__ import annotations

import threading

import pytest
from aiortc import rtcrtpreceiver
from aiortc.codecs import opus

from rtcstream.checks import hooks
from rtcstream.execution import wake

BY_NAME = {hook.name: hook for hook in hooks.HOOKS}


@pytest.mark.parametrize("name", list(BY_NAME))
def test_the_hook_is_there(name):
    assert BY_NAME[name].probe() is None


def _without_instance_attribute(monkeypatch: pytest.MonkeyPatch, cls: type, attribute: str) -> None:
    """Make ``cls``'s constructor leave ``attribute`` out, as a release that renamed it would."""
    original = cls.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        delattr(self, attribute)

    monkeypatch.setattr(cls, "__init__", init)


def _without_remote_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_instance_attribute(monkeypatch, rtcrtpreceiver.RemoteStreamTrack, "_queue")


def _without_jitter_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_instance_attribute(monkeypatch, rtcrtpreceiver.RTCRtpReceiver, "_RTCRtpReceiver__jitter_buffer")


def _without_packet_data(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle(self, packet, arrival_time_ms):  # a receiver that no longer depayloads into _data
        return None

    monkeypatch.setattr(rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", handle)


def _without_opus_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_instance_attribute(monkeypatch, opus.OpusEncoder, "codec")


def _without_register_atexit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(threading, "_register_atexit")


def _without_queue_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wake, "QUEUE_GET", None)  # as if Queue.get no longer called Condition.wait


BREAKERS = {
    "aiortc.rtcrtpreceiver.RemoteStreamTrack._queue": _without_remote_queue,
    "aiortc.rtcrtpreceiver.RTCRtpReceiver.__jitter_buffer": _without_jitter_buffer,
    "aiortc.rtp.RtpPacket._data": _without_packet_data,
    "aiortc.codecs.opus.OpusEncoder.codec": _without_opus_codec,
    "threading._register_atexit": _without_register_atexit,
    "sys._current_frames (a thread in queue.Queue.get)": _without_queue_frames,
}


def test_every_hook_has_a_test_of_its_absence():
    assert set(BREAKERS) == set(BY_NAME)


@pytest.mark.parametrize("name", list(BREAKERS))
def test_a_missing_hook_fails_the_system_check_naming_it(name, monkeypatch):
    BREAKERS[name](monkeypatch)
    errors = hooks.check_private_hooks()
    assert [error.id for error in errors] == ["rtcstream.E030"], errors
    assert errors[0].msg.startswith(name) and BY_NAME[name].used_by in errors[0].msg
    assert "aiortc" in errors[0].hint
