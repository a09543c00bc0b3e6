"""Issue 21, item 5: the metrics, as a scrape of a running daphne shows them, and what feeds them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
from django.test import RequestFactory

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.media.tracks import AudioOutputTrack
from rtcstream.models import StreamEndpoint
from rtcstream.operations import views
from rtcstream.runtime import get_runtime, replace_runtime
from tests import speech
from tests.daphne import serve
from tests.handlers import tone
from tests.metrics import registry_value, scrape, scrape_until, value
from tests.offers import audio_offer_sdp
from tests.test_output_tracks import echo_until_media_error, fail_the_output_track

sessions = pytest.mark.django_db(transaction=True)

# -- what feeds the turn latency ------------------------------------------------------------


async def test_on_next_audio_fires_with_the_first_frame_that_holds_audio_queued_after_it():
    track = AudioOutputTrack(frame_period=0.002)
    fired: list[int] = []
    await track.put((48000, tone(440, 0.03, 48000)))  # an earlier reply, still queued
    track.on_next_audio(lambda: fired.append(track.frames_sent))
    for _ in range(4):  # 30 ms of the earlier reply, then silence: not the audio asked about
        await track.recv()
    assert fired == []
    await track.put((48000, tone(440, 0.05, 48000)))
    frame = await track.recv()
    assert frame.to_ndarray().any() and fired == [5]
    # A barge-in drops the question with the audio: nothing fires for what was cleared.
    track.on_next_audio(lambda: fired.append(-1))
    track.clear()
    await track.put((48000, tone(440, 0.02, 48000)))
    await track.recv()
    assert fired == [5]
    track.stop()


@sessions
async def test_a_turn_is_timed_from_the_pause_to_the_first_reply_frame_sent(asgi_app):
    metrics = replace_runtime().metrics
    async with await RtcClient.connect(asgi_app, "t-reply-tone") as client:
        await client.start(audio=ArrayAudioTrack(speech.silence(10)))
        await client.wait_for_event("connected")
        assert registry_value(metrics, "rtcstream_turn_latency_seconds_count", endpoint="t-reply-tone") == 0
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await client.trigger()
        await client.wait_for_event("pause_detected")
        # The reply's tone reaches this client's recorder: the server sent it before that.
        await client.wait_until(lambda: client.audio.audible())
        heard = loop.time() - asked
        await client.wait_until(
            lambda: registry_value(metrics, "rtcstream_turn_latency_seconds_count", endpoint="t-reply-tone") == 1
        )
        latency = registry_value(metrics, "rtcstream_turn_latency_seconds_sum", endpoint="t-reply-tone")
        assert 0 < latency < heard, (latency, heard)
        await client.stop()
    # A greeting-free session, one turn: one observation, none for the stop.
    assert registry_value(metrics, "rtcstream_turn_latency_seconds_count", endpoint="t-reply-tone") == 1


# -- the view: who may read it ---------------------------------------------------------------


@pytest.fixture
def token_settings(settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "METRICS_TOKEN": "s3cret", "METRICS_ALLOWED_NETWORKS": ["10.0.0.0/8"]}
    yield settings


@pytest.mark.parametrize(
    ("address", "header", "status"),
    [
        ("10.1.2.3", "", 200),  # an allowed network
        ("127.0.0.1", "", 403),  # loopback is only allowed by default
        ("192.0.2.7", "Bearer s3cret", 200),
        ("192.0.2.7", "Bearer wrong", 403),
        ("192.0.2.7", "s3cret", 403),
    ],
)
async def test_the_view_answers_allowed_networks_and_the_token_only(token_settings, address, header, status):
    request = RequestFactory().get(
        "/metrics/", REMOTE_ADDR=address, **({"HTTP_AUTHORIZATION": header} if header else {})
    )
    response = await views.metrics(request)
    assert response.status_code == status
    if status == 200:
        assert b"# TYPE rtcstream_live_sessions gauge" in response.content


@sessions
async def test_without_prometheus_client_sessions_run_and_the_view_says_what_to_install(asgi_app, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import prometheus_client raises ImportError
    runtime = replace_runtime()
    assert not runtime.metrics.available
    async with await RtcClient.connect(asgi_app, "t-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))
        await client.wait_for_audio(0.3)
        assert (await client.stop())["reason"] == "client_stop"
    response = await views.metrics(RequestFactory().get("/metrics/", REMOTE_ADDR="127.0.0.1"))
    assert response.status_code == 501 and b"rtcstream[metrics]" in response.content
    replace_runtime()


def test_each_runtime_has_a_registry_of_its_own_never_the_global_one():
    from prometheus_client import REGISTRY

    first, second = replace_runtime().metrics, replace_runtime().metrics
    assert first.registry is not second.registry and REGISTRY not in (first.registry, second.registry)
    first.admitted("x")
    assert registry_value(first, "rtcstream_admissions_total", endpoint="x") == 1
    assert registry_value(second, "rtcstream_admissions_total", endpoint="x") == 0
    assert REGISTRY.get_sample_value("rtcstream_admissions_total", {"endpoint": "x"}) is None
    assert get_runtime() is not None


# -- a scrape of a running daphne ----------------------------------------------------------


@pytest.fixture(scope="module")
def metrics_server() -> Iterator[str]:
    with serve("tests.settings", "metrics") as (url, _process):
        yield url


async def test_a_scrape_of_daphne_moves_when_sessions_start_are_refused_and_end(metrics_server, fresh_address):
    url = metrics_server
    scraped = lambda: asyncio.to_thread(scrape, url)  # noqa: E731
    before = await scraped()
    assert value(before, "rtcstream_pool_size") == 32
    assert value(before, "rtcstream_live_sessions", endpoint="t-echo-one") == 0

    first = await RtcClient.connect(url, "t-echo-one", local_address=fresh_address)
    await first.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
    await first.wait_for_event("connected")
    live = await scraped()
    assert value(live, "rtcstream_live_sessions", endpoint="t-echo-one") == 1
    assert value(live, "rtcstream_admissions_total", endpoint="t-echo-one") == 1
    # The echo's receive runs in the pool: its threads show, and the loop monitor has sampled by now.
    assert value(live, "rtcstream_pool_threads") >= 1
    assert value(live, "rtcstream_open_websockets") >= 2  # the session's signalling and outputs sockets

    async with await RtcClient.connect(url, "t-echo-one", local_address=fresh_address) as second:
        with pytest.raises(RtcError) as refused:
            await second.start(audio=ArrayAudioTrack(tone(440, 1, 48000)))
        assert refused.value.code == "concurrency_limit"
    with pytest.raises(RtcError):
        await RtcClient.connect(url, "no-such-endpoint", local_address=fresh_address)
    refusals = await scraped()
    assert value(refusals, "rtcstream_refusals_total", endpoint="t-echo-one", reason="concurrency_limit") == 1
    assert value(refusals, "rtcstream_socket_refusals_total", reason="not_found") == 1
    assert value(refusals, "rtcstream_live_sessions", endpoint="t-echo-one") == 1

    assert (await first.stop())["reason"] == "client_stop"
    await first.close()
    await scrape_until(
        url,
        lambda s: (
            value(s, "rtcstream_live_sessions", endpoint="t-echo-one") == 0
            and value(s, "rtcstream_sessions_ended_total", endpoint="t-echo-one", reason="client_stop") == 1
        ),
        "the session's end",
    )
    # The loop monitor samples every 0.5 s (LOOP_LAG_INTERVAL): its histogram grows, and the lag is small here.
    lagged = lambda s: value(s, "rtcstream_event_loop_lag_seconds_count")  # noqa: E731
    after = await scrape_until(url, lambda s: lagged(s) >= lagged(before) + 2, "the loop monitor's samples")
    assert 0 <= value(after, "rtcstream_event_loop_lag_last_seconds") < 5.0
    assert value(after, "rtcstream_draining") == 0


@sessions
async def test_a_media_failure_is_counted_as_one(asgi_app, monkeypatch):
    metrics = replace_runtime().metrics
    fail_the_output_track(monkeypatch)
    await echo_until_media_error(asgi_app)
    assert registry_value(metrics, "rtcstream_sessions_ended_total", endpoint="t-echo", reason="media_error") == 1
    assert registry_value(metrics, "rtcstream_media_errors_total", endpoint="t-echo", reason="media_error") == 1
    assert registry_value(metrics, "rtcstream_sessions_ended_total", endpoint="t-echo", reason="client_stop") == 0


@sessions
async def test_a_waiter_that_leaves_the_line_is_no_live_session_and_no_session_ended(asgi_app):
    """One seated on a waiting-room endpoint (one seat), two in line who leave before a seat:
    the gauge counts the seated one only, and only its end is a session ended."""
    runtime = replace_runtime()
    metrics = runtime.metrics
    live = lambda: registry_value(metrics, "rtcstream_live_sessions", endpoint="t-wait-one")  # noqa: E731
    ended = lambda reason: registry_value(  # noqa: E731
        metrics, "rtcstream_sessions_ended_total", endpoint="t-wait-one", reason=reason
    )
    sdp = await audio_offer_sdp()
    seated, stopping, closing = [await RtcClient.connect(asgi_app, "t-wait-one") for _ in range(3)]
    try:
        await seated.send({"type": "offer", "sdp": sdp})
        await seated.wait_for_message("answer")
        assert live() == 1
        for waiter, position in ((stopping, 1), (closing, 2)):
            await waiter.send({"type": "offer", "sdp": sdp})
            await waiter.wait_for_message("queue", position=position)
        assert live() == 1 and registry_value(metrics, "rtcstream_admissions_total", endpoint="t-wait-one") == 1

        assert (await stopping.stop())["reason"] == "client_stop"  # sent once its place is given back
        assert live() == 1 and ended("client_stop") == 0
        await closing.close()  # its socket goes: its session ends, and with it its place
        await seated.wait_until(lambda: len(runtime.sessions) == 1, timeout=10)
        assert live() == 1 and ended("disconnected") == 0

        assert (await seated.stop())["reason"] == "client_stop"
        assert live() == 0 and ended("client_stop") == 1
        assert registry_value(metrics, "rtcstream_admissions_total", endpoint="t-wait-one") == 1
        assert registry_value(metrics, "rtcstream_refusals_total", endpoint="t-wait-one", reason="client_stop") == 0
    finally:
        await asyncio.gather(seated.close(), stopping.close(), closing.close())


@sessions
async def test_a_waiter_that_waits_its_longest_is_a_refusal_and_no_session_ended(asgi_app):
    metrics = replace_runtime().metrics
    await StreamEndpoint.objects.acreate(slug="short-wait", handler="t-wait-one", max_wait=1.0)
    sdp = await audio_offer_sdp()
    seated, waiting = [await RtcClient.connect(asgi_app, "short-wait") for _ in range(2)]
    try:
        await seated.send({"type": "offer", "sdp": sdp})
        await seated.wait_for_message("answer")
        await waiting.send({"type": "offer", "sdp": sdp})
        assert (await waiting.wait_for_message("error", timeout=10))["code"] == "queue_timeout"
        assert registry_value(metrics, "rtcstream_refusals_total", endpoint="short-wait", reason="queue_timeout") == 1
        assert registry_value(metrics, "rtcstream_live_sessions", endpoint="short-wait") == 1
        assert (
            registry_value(metrics, "rtcstream_sessions_ended_total", endpoint="short-wait", reason="client_stop") == 0
        )
    finally:
        await asyncio.gather(seated.close(), waiting.close())
