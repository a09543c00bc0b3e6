"""The incoming-audio jitter buffer: bounded delay whatever the network does, and it is the one aiortc uses."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from aiortc.rtp import RtpPacket
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rtcstream.media.jitter import AudioJitterBuffer, install_audio_jitter_buffer

FRAME = 960  # 20 ms of Opus at 48 kHz


def packet(sequence_number: int) -> RtpPacket:
    p = RtpPacket(
        payload_type=111, sequence_number=sequence_number % 65536, timestamp=(sequence_number * FRAME) % 2**32
    )
    p._data = sequence_number.to_bytes(4, "big", signed=True)  # type: ignore[attr-defined]
    return p


def released(buffer, sequence_numbers):
    """Feed packets in this order; return (frames released, how many each add left held)."""
    out, held = [], []
    for n in sequence_numbers:
        _pli, frame = buffer.add(packet(n))
        if frame is not None:
            out.append(int.from_bytes(frame.data, "big", signed=True))
        held.append(len(buffer) if isinstance(buffer, AudioJitterBuffer) else None)
    return out, held


def test_in_order_packets_come_out_prefetch_frames_later():
    frames, held = released(AudioJitterBuffer(prefetch=1), range(10))
    assert frames == list(range(9))
    assert max(held) == 1  # held after each add: the one frame waiting for its successor
    frames, _ = released(AudioJitterBuffer(prefetch=0), range(10))
    assert frames == list(range(10))


def test_a_lost_packet_is_skipped_without_adding_delay():
    sent = [n for n in range(200) if n != 50]
    ours, held = released(AudioJitterBuffer(prefetch=1), sent)
    assert ours == [n for n in range(199) if n != 50]
    assert max(held[60:]) <= 2
    # aiortc's own buffer (the one replaced) falls 14 frames behind for good after that loss.
    theirs, _ = released(JitterBuffer(capacity=16, prefetch=1), sent)
    assert len(sent) - 1 - len(ours) == 0
    assert len(sent) - len(theirs) >= 14


def test_a_packet_that_overtook_its_predecessor_is_put_back_in_order():
    order = [0, 1, 3, 2, 4, 6, 5, 7, 8]
    frames, _ = released(AudioJitterBuffer(prefetch=1), order)
    assert frames == [0, 1, 2, 3, 4, 5, 6, 7]


def test_a_packet_too_late_is_dropped_and_counted():
    buffer = AudioJitterBuffer(prefetch=1)
    frames, _ = released(buffer, [0, 1, 3, 4, 5, 2, 6])
    assert frames == [0, 1, 3, 4, 5]
    assert buffer.late == 1 and buffer.skipped == 1


def test_sequence_numbers_wrap():
    frames, _ = released(AudioJitterBuffer(prefetch=1), [65533, 65534, 65535, 65536, 65537, 65538])
    assert frames == [65533, 65534, 65535, 65536, 65537]  # the payload carries the unwrapped number


def test_a_sender_that_restarts_its_sequence_is_followed():
    buffer = AudioJitterBuffer(prefetch=1)
    frames, _ = released(buffer, [100, 101, 102, 40000, 40001, 40002, 5, 6, 7])
    assert frames == [100, 101, 40000, 40001, 5, 6]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        AudioJitterBuffer(prefetch=16, capacity=16)
    with pytest.raises(ValueError):
        AudioJitterBuffer(prefetch=-1)


@example(prefetch=1, start=0, events=[(False, 0), *[(True, 0)] * 15, (False, 0)])  # a jump of 16 restarts it
@settings(max_examples=300, deadline=None)
@given(
    prefetch=st.integers(0, 4),
    start=st.integers(0, 65535),
    events=st.lists(st.tuples(st.booleans(), st.integers(-3, 3)), min_size=1, max_size=300),
)
def test_any_loss_and_reordering_keeps_the_buffer_bounded_and_in_order(prefetch, start, events):
    """Each packet is lost or shifted a few places; what comes out is ascending, unique, and never far behind."""
    arrivals = sorted(
        ((index + shift, start + index) for index, (lost, shift) in enumerate(events) if not lost),
        key=lambda pair: pair[0],
    )
    buffer = AudioJitterBuffer(prefetch=prefetch)
    frames, held = released(buffer, [n for _when, n in arrivals])
    assert frames == sorted(set(frames))
    assert max(held, default=0) <= prefetch + 1
    # Everything that arrived is released, dropped as late, discarded by a restart after a jump of a
    # whole buffer's length, or still held (at most prefetch + 1).
    assert len(frames) + buffer.late + buffer.discarded + len(buffer) == len(arrivals)


class _Transport:
    state = "new"

    def _register_rtp_receiver(self, *args):
        pass


def test_it_replaces_aiortcs_audio_buffer_and_leaves_video_alone():
    receiver = RTCRtpReceiver("audio", _Transport())
    buffer = install_audio_jitter_buffer(receiver, 2)
    assert isinstance(buffer, AudioJitterBuffer) and buffer.prefetch == 2
    assert receiver._RTCRtpReceiver__jitter_buffer is buffer
    video = RTCRtpReceiver("video", _Transport())
    assert install_audio_jitter_buffer(video, 1) is None
    assert isinstance(video._RTCRtpReceiver__jitter_buffer, JitterBuffer)


async def _lag_after_a_loss(install: bool) -> float:
    """A real aiortc pair on loopback; the answerer loses one packet. The answerer's median lag afterwards (ms)."""
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    source = AudioStreamTrack()
    offerer.addTrack(source)
    handled: list[tuple[float, int]] = []  # (when, packet timestamp) as the receiver took each packet
    arrived = asyncio.get_running_loop().create_future()

    @answerer.on("track")
    def on_track(track):
        receiver = next(t.receiver for t in answerer.getTransceivers() if t.receiver.track is track)
        if install:
            install_audio_jitter_buffer(receiver, 1)
        handle = receiver._handle_rtp_packet

        async def losing(rtp, arrival_time_ms):
            handled.append((time.monotonic(), rtp.timestamp))
            if len(handled) == 40:
                return  # lost
            await handle(rtp, arrival_time_ms)

        receiver._handle_rtp_packet = losing
        arrived.set_result(track)

    try:
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        track = await asyncio.wait_for(arrived, 10)
        lags = []
        deadline = time.monotonic() + 30
        while len(handled) < 120 and time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(track.recv(), 5)
            except (MediaStreamError, TimeoutError):
                break
            if len(handled) > 60:  # well after the loss
                newest = handled[-1][1] - handled[0][1]
                lags.append((newest - frame.pts) / 48)
        assert len(lags) > 20, "the answerer stopped getting audio"
        return statistics.median(lags)
    finally:
        source.stop()
        await offerer.close()
        await answerer.close()


@pytest.mark.asyncio
async def test_after_a_lost_packet_a_real_receiver_keeps_up():
    """Through aiortc's RTCRtpReceiver and decoder: what the track gives stays within a few frames of the wire."""
    lag = await _lag_after_a_loss(install=True)
    assert lag < 100, f"the receiver runs {lag:.0f} ms behind the packets it has taken"
