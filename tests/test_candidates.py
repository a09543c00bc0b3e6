"""Where the server sends ICE checks: never to multicast, broadcast, reserved or unspecified
addresses a client names, and not to ranges a site refuses (docs/security.md)."""

from __future__ import annotations

import re

import pytest

from rtcstream.checks.entries import check_refused_candidate_addresses
from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.session.candidates import refusal
from tests.handlers import tone
from tests.offers import audio_offer_sdp

pytestmark = [pytest.mark.django_db(transaction=True)]

ALWAYS_REFUSED = ["224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "0.0.0.0", "::", "ff02::1"]
ACCEPTED = ["8.8.8.8", "10.0.0.5", "192.168.1.20", "127.0.0.1", "fd00::2", "2606:4700::1", "abcd-1234.local"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_multicast_broadcast_reserved_and_unspecified_addresses_are_always_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ACCEPTED)
def test_other_addresses_and_mdns_names_are_accepted_by_default(address):
    assert refusal(address) is None


def test_a_site_may_refuse_private_or_public_ranges_or_its_own_networks(settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "REFUSED_CANDIDATE_ADDRESSES": ["private"]}
    assert refusal("10.0.0.5") == "a private address (this site refuses them)"
    assert refusal("100.64.0.1") is not None and refusal("::ffff:192.168.0.1") is not None
    assert refusal("8.8.8.8") is None
    settings.RTCSTREAM = {**settings.RTCSTREAM, "REFUSED_CANDIDATE_ADDRESSES": ["public", "10.1.0.0/16"]}
    assert refusal("8.8.8.8") == "a public address (this site refuses them)"
    assert refusal("10.1.2.3") == "an address in 10.1.0.0/16 (this site refuses it)"
    assert refusal("10.2.0.1") is None


def test_a_wrong_setting_is_a_system_check_error(settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "REFUSED_CANDIDATE_ADDRESSES": ["private", "not-a-network"]}
    (error,) = check_refused_candidate_addresses()
    assert error.id == "rtcstream.E005" and "not-a-network" in error.msg


@pytest.mark.parametrize("address", ["224.0.0.1", "255.255.255.255", "0.0.0.0"])
async def test_a_trickled_candidate_the_server_will_not_check_gets_bad_candidate(asgi_app, address):
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.send(
            {
                "type": "candidate",
                "candidate": f"candidate:1 1 udp 2130706431 {address} 5000 typ host",
                "sdpMLineIndex": 0,
            }
        )
        error = await client.wait_for_message("error")
        assert error["code"] == "bad_candidate" and "sends no ICE checks" in error["message"]
        # The session goes on: a good offer is still answered and echoes.
        await client.start(audio=ArrayAudioTrack(tone(440, 5, 48000)))
        await client.wait_for_audio(seconds=0.3)


async def test_an_offer_naming_such_a_candidate_is_refused_before_any_slot(asgi_app):
    offer_sdp = await audio_offer_sdp()
    hostile = re.sub(r"^(a=candidate:\S+ 1 udp \d+) \S+", r"\1 255.255.255.255", offer_sdp, count=1, flags=re.M)
    assert hostile != offer_sdp
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.send({"type": "offer", "sdp": hostile})
        error = await client.wait_for_message("error")
        assert error["code"] == "bad_sdp" and "broadcast or reserved" in error["message"]


async def test_with_private_ranges_refused_a_browser_on_the_lan_cannot_connect(asgi_app, settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "REFUSED_CANDIDATE_ADDRESSES": ["private"]}
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        with pytest.raises(RtcError) as refused:
            await client.start(audio=ArrayAudioTrack(tone(440, 5, 48000)))
        assert refused.value.code == "bad_sdp"
