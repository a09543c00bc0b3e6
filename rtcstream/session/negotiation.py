"""A session's peer connection from offer to answer, and the browser's trickled candidates:
the WebRTC ``MediaTransport`` (``rtcstream.transports.base``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription

from rtcstream import conf
from rtcstream.admission.refusals import Refused
from rtcstream.media.jitter import install_audio_jitter_buffer
from rtcstream.reasons import MessageError, Refusal
from rtcstream.relay.ice_servers import ice_configuration
from rtcstream.relay.peer_connection import PeerConnection
from rtcstream.runners import Runner
from rtcstream.session.candidates import describe, parse_candidate
from rtcstream.session.disclosure import visitor_message
from rtcstream.session.sdp import ask_for_opus_dtx, first_codec
from rtcstream.signalling import protocol
from rtcstream.signalling.protocol import Candidate, ProtocolError
from rtcstream.transports.base import OnState
from rtcstream.transports.table import WEBRTC, TransportKind

logger = logging.getLogger("rtcstream.session")

MAX_PENDING_CANDIDATES = 64


class Negotiation:
    """Applies the offer, answers it, and adds candidates: those that come before the offer is applied wait.

    ``on_state`` hears the connection's ``connectionState`` changes; ``report``
    gets the protocol error of a waiting candidate that could not be used.
    """

    kind: TransportKind = WEBRTC

    def __init__(
        self,
        session_id: str,
        ice_servers: list[dict[str, Any]],
        on_state: OnState,
        report: Callable[[dict[str, Any]], None],
    ) -> None:
        self.session_id = session_id
        self.ice_servers = ice_servers
        self.pc: PeerConnection | None = None
        self._on_state = on_state
        self._report = report
        self._waiting: list[RTCIceCandidate | None] = []  # candidates that came before the offer was applied
        self._applied = False
        self._offer: str | None = None

    def take_offer(self, sdp: str) -> None:
        """Keep the offer ``open`` answers (the lifecycle checked it first)."""
        self._offer = sdp

    async def open(self, runner: Runner) -> dict[str, Any]:
        """Answer the offer taken last (``MediaTransport.open``): the ``answer`` message."""
        if self._offer is None:
            raise ProtocolError(MessageError.INVALID_STATE, "There is no offer to answer.")
        return protocol.answer(await self.answer(self._offer, runner))

    async def answer(self, sdp: str, runner: Runner) -> str:
        """Apply the offer ``sdp``, give ``runner`` its tracks, and return the answer's SDP."""
        self.pc = pc = PeerConnection(ice_configuration(self.ice_servers), skip_silent=True)
        pc.on("track", lambda track: self._on_track(pc, runner, track))
        pc.on("connectionstatechange", lambda: pc is self.pc and self._on_state(pc.connectionState))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            logger.info("Session %s: the offer could not be applied: %s", self.session_id, describe(exc))
            raise ProtocolError(Refusal.BAD_SDP, "The offer could not be applied.") from None
        wanted = {t.kind for t in runner.outgoing_tracks()}
        offered = {t.kind for t in pc.getTransceivers()}
        if not wanted <= offered:
            raise ProtocolError(
                Refusal.BAD_SDP,
                f"This endpoint sends {', '.join(sorted(wanted))}, but the offer has no such media section.",
            )
        for track in runner.outgoing_tracks():
            pc.addTrack(track)
        self._applied = True
        for candidate in self._waiting:
            try:
                await self._apply(candidate)
            except ProtocolError as exc:
                self._report(exc.as_message())
        self._waiting.clear()
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        self._encode_opus_here(pc, runner, answer)
        return ask_for_opus_dtx(answer) if conf.get("AUDIO_DTX") else answer

    async def add_candidate(self, candidate: Candidate) -> None:
        """Use a trickled browser candidate, or keep it until the offer is applied."""
        parsed = parse_candidate(candidate)
        if self._applied:
            await self._apply(parsed)
            return
        if len(self._waiting) >= MAX_PENDING_CANDIDATES:
            raise ProtocolError(
                MessageError.INVALID_STATE, f"At most {MAX_PENDING_CANDIDATES} candidates are held before the offer."
            )
        self._waiting.append(parsed)

    def connected(self) -> bool:
        """Whether the connection, and the DTLS transport under each of its senders, are connected."""
        pc = self.pc
        if pc is None or pc.connectionState != "connected":
            return False
        return all(t.sender.transport.state == "connected" for t in pc.getTransceivers() if t.sender.transport)

    async def close(self) -> None:
        """Close the peer connection (its transports, tracks and aiortc's decoder threads)."""
        pc, self.pc = self.pc, None
        self._waiting.clear()
        self._applied = False
        if pc is not None:
            await pc.close()

    async def _apply(self, candidate: RTCIceCandidate | None) -> None:
        if self.pc is None:
            return
        try:
            await self.pc.addIceCandidate(candidate)
        except Exception as exc:
            logger.info("Session %s: an ICE candidate could not be used: %s", self.session_id, describe(exc))
            raise ProtocolError(MessageError.BAD_CANDIDATE, "The ICE candidate could not be used.") from None

    @staticmethod
    def _on_track(pc: RTCPeerConnection, runner: Runner, track: Any) -> None:
        if track.kind == "audio":
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    install_audio_jitter_buffer(transceiver.receiver, conf.get("AUDIO_JITTER_FRAMES"))
        runner.on_track(track)

    @staticmethod
    def _encode_opus_here(pc: RTCPeerConnection, runner: Runner, answer: str) -> None:
        """Let the audio output encode its own Opus packets when Opus is what its sender sends."""
        track = runner.audio_output()
        if track is None:
            return
        for transceiver in pc.getTransceivers():
            if transceiver.sender.track is track and first_codec(answer, transceiver.mid) == "audio/opus":
                track.send_opus_packets(dtx=conf.get("AUDIO_DTX"))


def refusal_for(exc: BaseException, session_id: str) -> tuple[dict[str, Any], Refusal]:
    """The ``error`` message a client gets for an offer that failed with ``exc``, and what admission records."""
    if isinstance(exc, ProtocolError):
        return exc.as_message(), Refusal.BAD_SDP
    if isinstance(exc, Refused):
        return protocol.error(exc.code, str(exc)), exc.code
    if isinstance(exc, TimeoutError):
        return protocol.error(Refusal.BAD_SDP, "The offer could not be answered in time."), Refusal.BAD_SDP
    logger.error("Session %s: answering the offer failed", session_id, exc_info=(type(exc), exc, exc.__traceback__))
    message = visitor_message("The server could not start this stream.", exc)
    return protocol.error(Refusal.SERVER_ERROR, message), Refusal.SERVER_ERROR
