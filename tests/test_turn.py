"""TURN settings: per-session credentials reach both peers; the system check warns on a public site without TURN."""

from __future__ import annotations

import pytest
from django.test import override_settings

from rtcstream.checks import network
from rtcstream.client import RtcClient
from rtcstream.relay import turn_credentials
from tests.settings import RTCSTREAM

TURN = {"urls": ["turn:turn.example.org:3478"], "secret": "s3cret", "ttl": 120}


def test_minted_credentials_follow_coturns_rest_scheme() -> None:
    username, credential = turn_credentials.mint("s3cret", "abc", 120, now=1_700_000_000.7)
    assert username == "1700000120:abc"
    # base64(HMAC-SHA1(secret, username)), computed with another implementation:
    # echo -n "1700000120:abc" | openssl dgst -sha1 -hmac s3cret -binary | base64
    assert credential == "IOjGQiSyjn6iWEH4DBf3PH2EzG8="


@pytest.mark.django_db(transaction=True)
async def test_each_session_gets_its_own_credentials_on_both_peers(asgi_app) -> None:
    from rtcstream.relay.ice_servers import ice_configuration

    settings = {**RTCSTREAM, "TURN": TURN, "ICE_SERVERS": [{"urls": "stun:stun.example.org"}]}
    with override_settings(RTCSTREAM=settings):
        first = await RtcClient.connect(asgi_app, "t-echo")
        second = await RtcClient.connect(asgi_app, "t-echo")
        try:
            servers = first.session["ice_servers"]
            assert servers[0] == {"urls": "stun:stun.example.org"}
            assert servers[1]["urls"] == TURN["urls"]
            assert servers[1]["username"].endswith(":" + first.session["session"])
            assert second.session["ice_servers"][1]["username"].endswith(":" + second.session["session"])
            assert servers[1]["credential"] != second.session["ice_servers"][1]["credential"]
            assert first.session["ice_transport_policy"] == "all"
        finally:
            await first.close()
            await second.close()
    # The server's peer connection is configured from the same list.
    config = ice_configuration(servers)
    assert [s.username for s in config.iceServers] == [None, servers[1]["username"]]
    assert ice_configuration(servers, "relay").iceTransportPolicy.value == "relay"


def messages(**overrides) -> list:
    with override_settings(**overrides):
        return [(m.id, m.msg) for m in network.check_turn()]


@pytest.mark.parametrize(
    ("hosts", "rtcstream", "warned"),
    [
        (["localhost", "127.0.0.1", "[::1]"], {}, False),
        (["rtc.example.org"], {}, True),
        (["rtc.example.org"], {"TURN": TURN}, False),
        (
            ["rtc.example.org"],
            {"ICE_SERVERS": [{"urls": ["turns:t.example.org"], "username": "u", "credential": "c"}]},
            False,
        ),
        (["rtc.example.org"], {"ICE_SERVERS": [{"urls": "stun:stun.example.org"}]}, True),
    ],
)
def test_a_public_site_without_turn_is_warned(hosts, rtcstream, warned) -> None:
    found = messages(ALLOWED_HOSTS=hosts, RTCSTREAM={**RTCSTREAM, **rtcstream})
    assert [i for i, _ in found] == (["rtcstream.W020"] if warned else [])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"urls": ["stun:x"], "secret": "s"}, "turn: or turns:"),
        ({"urls": ["turn:x"]}, "static-auth-secret"),
        ({"urls": ["turn:x"], "secret": "s", "ttl": 0}, "positive"),
        ({"urls": ["turn:x"], "secret": "s", "username": "u"}, "unknown keys: username"),
        ("turn:x", "must be a dict"),
    ],
)
def test_a_wrong_turn_setting_is_an_error(value, fragment) -> None:
    found = messages(RTCSTREAM={**RTCSTREAM, "TURN": value})
    assert found and all(i == "rtcstream.E020" for i, _ in found)
    assert any(fragment in text for _, text in found)
    with override_settings(RTCSTREAM={**RTCSTREAM, "TURN": value}):
        assert turn_credentials.session_ice_servers([], "abc") == []  # an unusable setting adds nothing


def test_the_transport_policy_is_checked() -> None:
    assert messages(RTCSTREAM={**RTCSTREAM, "ICE_TRANSPORT_POLICY": "relay-only"})[0][0] == "rtcstream.E020"
