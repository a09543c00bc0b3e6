"""TURN end to end: a real coturn on loopback, a real daphne, and the Python client relay-only.

The client gathers relay candidates only (aiortc's iceTransportPolicy "relay"),
so every packet of the echoed audio crossed the TURN server; the credentials
are the ones the server minted for the session (rtcstream/relay/turn_credentials.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.relay import turn_credentials
from tests.daphne import serve
from tests.handlers import tone
from tests.media_checks import dominant_frequency, loud_part
from tests.turnserver import TurnServer, turnserver


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnServer]:
    with turnserver(tmp_path_factory.mktemp("coturn")) as server:
        yield server


def turn_env(server: TurnServer, secret: str) -> dict[str, str]:
    return {"RTCSTREAM_TURN_URL": server.url, "RTCSTREAM_TURN_SECRET": secret}


@pytest.fixture(scope="module")
def turn_site(coturn: TurnServer) -> Iterator[str]:
    with serve("tests.settings_turn", "daphne-turn", env=turn_env(coturn, coturn.secret)) as (url, _process):
        yield url


@pytest.fixture(scope="module")
def wrong_secret_site(coturn: TurnServer) -> Iterator[str]:
    with serve("tests.settings_turn", "daphne-turn-wrong", env=turn_env(coturn, "not-the-secret")) as (url, _process):
        yield url


async def test_relay_only_client_gets_its_audio_echoed_through_coturn(turn_site, coturn):
    async with await RtcClient.connect(turn_site, "t-echo") as client:
        minted = client.session["ice_servers"][-1]
        expiry, name = minted["username"].split(":")
        assert name == client.session["session"]
        assert 590 <= int(expiry) - time.time() <= 600
        assert minted["urls"] == [coturn.url]

        await client.start(audio=ArrayAudioTrack(tone(330, 10, 48000)), ice_transport_policy="relay")
        local = [line for line in client.pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        assert local and all(" typ relay " in line for line in local)
        audio = await client.wait_for_audio(seconds=1.0, timeout=20)
        assert abs(dominant_frequency(loud_part(audio.samples())[-24000:]) - 330) < 5
        assert (await client.stop())["reason"] == "client_stop"
    assert f":{client.session['session']}" in coturn.log_text()  # coturn saw this session's username


async def test_a_wrong_secret_gives_the_client_a_clear_error(wrong_secret_site):
    async with await RtcClient.connect(wrong_secret_site, "t-echo") as client:
        with pytest.raises(RtcError) as refused:
            await client.start(audio=ArrayAudioTrack(tone(330, 10, 48000)), ice_transport_policy="relay")
        assert refused.value.code == "no_relay_candidate"
        assert "wrong or expired credentials" in str(refused.value)


async def test_coturn_refuses_expired_credentials_and_takes_fresh_ones(turn_site, coturn):
    """The minted username's expiry is what coturn checks: the same secret, an hour in the past, is refused."""
    for now, works in ((time.time() - 3600, False), (None, True)):
        async with await RtcClient.connect(turn_site, "t-echo") as client:
            username, credential = turn_credentials.mint(coturn.secret, client.session["session"], 600, now=now)
            client.session["ice_servers"] = [{"urls": [coturn.url], "username": username, "credential": credential}]
            if works:
                await client.start(audio=ArrayAudioTrack(tone(330, 10, 48000)), ice_transport_policy="relay")
                await client.wait_for_audio(seconds=0.5, timeout=20)
            else:
                with pytest.raises(RtcError) as refused:
                    await client.start(audio=ArrayAudioTrack(tone(330, 10, 48000)), ice_transport_policy="relay")
                assert refused.value.code == "no_relay_candidate"
