"""Who may open what: origins, logins, outputs tokens, per-client caps."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from rtcstream import conf
from rtcstream.client import RtcClient, RtcError
from rtcstream.models import StreamEndpoint
from rtcstream.runtime import get_runtime
from rtcstream.signalling import consumers
from rtcstream.signalling.tokens import make_outputs_token, read_outputs_token
from tests.refusals import communicator_refusal, refusal_code

pytestmark = [pytest.mark.django_db(transaction=True)]


async def refused_code(app, path, headers, quiet: float = 0.5) -> int | None:
    """Return the code the server refuses a connection with, or None if it keeps it open ``quiet`` seconds."""
    return await communicator_refusal(WebsocketCommunicator(app, path, headers=headers), quiet)


async def test_a_foreign_origin_is_refused(asgi_app):
    assert await refused_code(asgi_app, "/ws/rtcstream/t-echo/", [(b"origin", b"http://evil.example")]) is not None
    assert await refused_code(asgi_app, "/ws/rtcstream/t-echo/", []) is not None
    assert await refused_code(asgi_app, "/ws/rtcstream/t-echo/", [(b"origin", b"http://testserver")]) is None


def _login_cookie(username: str) -> bytes:
    user = User.objects.create_user(username, password="x")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_login_required_is_enforced_at_connect(asgi_app):
    await StreamEndpoint.objects.acreate(slug="private", handler="t-echo", login_required=True)
    origin = (b"origin", b"http://testserver")
    assert await refused_code(asgi_app, "/ws/rtcstream/private/", [origin]) == 4403
    cookie = await sync_to_async(_login_cookie)("alice")
    assert await refused_code(asgi_app, "/ws/rtcstream/private/", [origin, (b"cookie", cookie)]) is None


async def test_a_disabled_endpoint_is_unknown(asgi_app):
    await StreamEndpoint.objects.acreate(slug="off", handler="t-echo", enabled=False)
    assert await refused_code(asgi_app, "/ws/rtcstream/off/", [(b"origin", b"http://testserver")]) == 4404


async def test_the_outputs_socket_needs_a_valid_token_for_its_own_user(asgi_app):
    origin = (b"origin", b"http://testserver")
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        session_id = client.session["session"]
        token = client.session["outputs"].rstrip("/").rsplit("/", 1)[1]
        assert token != session_id
        assert await refused_code(asgi_app, client.session["outputs"], [origin]) is None
        assert await refused_code(asgi_app, f"/ws/rtcstream/outputs/{session_id}/", [origin]) == 4403
        assert await refused_code(asgi_app, f"/ws/rtcstream/outputs/{token[:-2]}xx/", [origin]) == 4403


def test_tokens_are_bound_to_the_user_who_opened_the_session():
    alice = User.objects.create_user("alice2")
    bob = User.objects.create_user("bob2")
    token = make_outputs_token("S" * 22, alice)
    assert read_outputs_token(token, alice) == "S" * 22
    assert read_outputs_token(token, bob) is None
    assert read_outputs_token(token, None) is None
    anonymous = make_outputs_token("T" * 22, None)
    assert read_outputs_token(anonymous, None) == "T" * 22


async def test_one_address_may_hold_only_so_many_sockets(daphne_server, fresh_address):
    cap = conf.get("MAX_SOCKETS_PER_CLIENT")  # the daphne process runs the same settings
    clients = []
    try:
        for _ in range(cap):
            clients.append(await RtcClient.connect(daphne_server, "t-echo", local_address=fresh_address))
        with pytest.raises(Exception) as refused:
            await RtcClient.connect(daphne_server, "t-echo", local_address=fresh_address)
        assert "4429" in str(refused.value)
        # Another address is not affected.
        async with await RtcClient.connect(daphne_server, "t-echo", local_address="127.0.0.1") as other:
            assert other.session["endpoint"] == "t-echo"
    finally:
        for client in clients:
            await client.close()
    # Closing frees the count (daphne notices the close a moment later).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        try:
            again = await RtcClient.connect(daphne_server, "t-echo", local_address=fresh_address)
            break
        except RtcError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)
    async with again:
        assert again.session["endpoint"] == "t-echo"


async def test_outputs_tokens_die_with_their_session(asgi_app, monkeypatch):
    monkeypatch.setattr(consumers, "LIVENESS_TIMEOUT", 1.0)
    origin = (b"origin", b"http://testserver")
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        path = client.session["outputs"]
        assert await refused_code(asgi_app, path, [origin], quiet=1.5) is None
        await client.stop()
    # The token is still well signed, but its session is over: closed with 4410 (Gone).
    assert await refused_code(asgi_app, path, [origin], quiet=1.5) == 4410


async def test_outputs_sockets_count_against_the_per_client_cap(asgi_app, settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "MAX_SOCKETS_PER_CLIENT": 3}
    origin = (b"origin", b"http://testserver")
    async with await RtcClient.connect(asgi_app, "t-echo") as client:  # socket 1
        replayed = []
        try:
            for port in (1, 2, 3):  # sockets 2 and 3 are accepted, 4 is one too many
                communicator = WebsocketCommunicator(asgi_app, client.session["outputs"], headers=[origin])
                communicator.scope["client"] = ("127.0.0.1", port)
                replayed.append(communicator)
                assert (await communicator.connect(timeout=5))[0]
            assert refusal_code((await replayed[-1].receive_output(timeout=5))["text"]) == 4429
            assert get_runtime().sockets.open_counts() == {"address:127.0.0.1": 3}
            with pytest.raises(RtcError, match="4429"):
                await RtcClient.connect(asgi_app, "t-echo")
        finally:
            for communicator in replayed:
                await communicator.disconnect()
        assert get_runtime().sockets.open_counts() == {"address:127.0.0.1": 1}
