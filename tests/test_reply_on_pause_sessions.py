"""ReplyOnPause through real sessions: turns, pre-roll, barge-in, noise, events."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.handlers.turn_taking import TurnOptions
from rtcstream.session.sdp import asks_for_opus_dtx
from tests import speech
from tests.media_checks import rms

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _espeak():
    speech.require_espeak()


async def play(
    client: RtcClient, recording: np.ndarray, endpoint_slack: float = 2.0, *, dtx: bool = False
) -> ArrayAudioTrack:
    """Send ``recording`` as the microphone (as a browser using Opus DTX, if asked) and wait until it has all been sent."""
    track = ArrayAudioTrack(recording, dtx=dtx)
    await client.start(audio=track)
    seconds = recording.size / 48000
    await client.wait_until(lambda: track.elapsed() >= seconds, timeout=seconds + endpoint_slack + 5)
    return track


@pytest.mark.parametrize("dtx", [False, True], ids=["every-frame", "dtx"])
@pytest.mark.parametrize(("gap", "turns"), [(0.3, 1), (0.8, 2), (2.0, 2)])
async def test_the_number_of_turns_follows_the_pause(asgi_app, gap, turns, dtx):
    """With DTX the caller sends one packet in 20 after 200 ms of silence: the pause is heard all the same."""
    recording = speech.two_utterances(gap, lead=0.5, tail=1.5)
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        track = await play(client, recording.samples, dtx=dtx)
        assert (track.frames_skipped > 0) == dtx
        await client.wait_until(lambda: client.events().count("pause_detected") >= turns, timeout=5)
        # The tail of silence has played: no further turn may come.
        assert client.events().count("pause_detected") == turns
        assert client.events().count("started_talking") == turns
        outputs = await client.wait_for_outputs(turns)
        heard = sum(o["values"][0]["seconds"] for o in outputs)
        spoken = sum(end - start for start, end in recording.utterances) / 48000
        assert heard >= spoken  # nothing of the speech is lost, whatever the turns


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_answer_asks_the_browser_for_opus_dtx_unless_disabled(asgi_app, settings, enabled):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "AUDIO_DTX": enabled}
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        await client.start(audio=ArrayAudioTrack(np.zeros(48000, np.int16)))
        answer = client.pc.remoteDescription.sdp.splitlines()
        opus = next(
            line.split()[0].split(":")[1] for line in answer if line.startswith("a=rtpmap:") and "opus/" in line
        )
        assert (f"a=fmtp:{opus} usedtx=1" in answer) == enabled
        assert asks_for_opus_dtx(client.pc.remoteDescription.sdp) == enabled  # as the bench's caller reads it


async def test_the_utterance_keeps_its_onset_and_the_reply_plays_it_back(asgi_app):
    recording = speech.utterance(lead=1.0, tail=2.0)
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        await play(client, recording.samples)
        output = (await client.wait_for_outputs(1))[0]["values"][0]
        # The first word's energy starts at least the pre-roll (0.1 s by default) into what fn got.
        assert output["onset"] >= TurnOptions().pre_roll_s, output
        await client.wait_for_event("response_starting", timeout=10)
        mark = client.audio.seconds()  # silence until now: the server sends frames between replies
        await client.wait_until(lambda: client.audio.seconds() >= mark + output["seconds"] + 0.2, timeout=10)
        reply = client.audio.samples()[int(mark * 48000) :]
        assert rms(reply) > 300  # the utterance came back, not silence
        await client.wait_for_event("playback_done", timeout=5)
        names = [n for n in client.events() if n != "connected"]
        assert names[:5] == ["started_talking", "pause_detected", "response_starting", "response_done", "playback_done"]


async def test_speech_during_a_reply_interrupts_it_quickly(asgi_app):
    first = speech.utterance(lead=0.5, tail=0.0)
    async with await RtcClient.connect(asgi_app, "t-reply-tone") as client:
        track = ArrayAudioTrack(np.concatenate([first.samples, speech.silence(10)]))
        await client.start(audio=track)
        await client.wait_for_event("response_starting", timeout=15)
        await client.wait_until(lambda: client.audio.audible_seconds() > 0.5, timeout=5)  # the tone is playing
        onset_wall = time.monotonic() + (speech.energy_onset(speech.speech()) / 48000)
        track.play(np.concatenate([speech.speech(), speech.silence(10)]))
        await client.wait_for_event("interrupted", timeout=5)
        # The last tone frame arrives soon after the onset of the new speech.
        await client.wait_until(lambda: time.monotonic() > onset_wall + 1.0, timeout=5)
        tone_frames = [f for f in client.audio.audible() if f[0] < onset_wall + 1.0]
        stopped_after = tone_frames[-1][0] - onset_wall
        assert stopped_after < 0.6, stopped_after  # the bench measures it; here: well under a second
        # The new utterance is kept whole: it becomes the next turn.
        await client.wait_until(lambda: client.events().count("pause_detected") >= 2, timeout=10)


async def test_without_interruption_speech_during_a_reply_is_ignored(asgi_app):
    first = speech.utterance(lead=0.5, tail=0.0)
    async with await RtcClient.connect(asgi_app, "t-reply-tone-polite") as client:
        track = ArrayAudioTrack(np.concatenate([first.samples, speech.silence(10)]))
        await client.start(audio=track)
        await client.wait_for_event("response_starting", timeout=15)
        track.play(np.concatenate([speech.speech(), speech.silence(10)]))
        await client.wait_until(lambda: client.audio.seconds() >= 5.5, timeout=12)
        assert "interrupted" not in client.events()
        assert client.events().count("pause_detected") == 1


@pytest.mark.parametrize("noise", ["silence", "hum", "white_noise"])
async def test_silence_hum_and_noise_start_no_turn(asgi_app, noise):
    samples = getattr(speech, noise)(3.0)
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        await play(client, samples)
        assert "started_talking" not in client.events()
        assert "pause_detected" not in client.events()


async def test_trigger_forces_a_turn(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-reply-echo") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        await client.wait_for_event("connected")
        await client.trigger()
        pause = await client.wait_for_event("pause_detected")
        assert pause["data"]["reason"] == "trigger"


async def test_an_admin_endpoint_sets_the_pause_for_new_sessions(asgi_app):
    from rtcstream.models import StreamEndpoint

    # 0.8 s gaps make two turns with the default pause (test above); a 1.5 s pause makes one.
    await StreamEndpoint.objects.acreate(slug="patient", handler="t-reply-echo", handler_options={"min_silence_s": 1.5})
    recording = speech.two_utterances(0.8, lead=0.5, tail=2.5)
    async with await RtcClient.connect(asgi_app, "patient") as client:
        await play(client, recording.samples)
        await client.wait_until(lambda: client.events().count("pause_detected") >= 1, timeout=5)
        assert client.events().count("pause_detected") == 1
