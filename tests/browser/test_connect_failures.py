"""Every failure to connect names its cause on the page: the server's coded close reaches the
widget through daphne, and the widget says what it means."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daphne import serve

from .widget import wait_state, wait_stats, widget_page

pytestmark = pytest.mark.browser


# Each websocket's close code as the page saw it.
RECORD_CLOSES = """() => {
  const Native = window.WebSocket;
  window.socketCloses = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (ev) => window.socketCloses.push([new URL(this.url).pathname, ev.code]));
    }
  };
}"""


def refusal(context, site: str, endpoint: str, path: str) -> tuple[str, str]:
    """Start a widget on ``path``; return the error code and the message it shows.

    The widget must have hung up itself on the server's ``refused`` message (its socket closed with
    the widget's 1000, not the server's code): a close the server starts can be lost by a busy browser.
    """
    page = widget_page(context, site, endpoint, path=path)
    page.evaluate(RECORD_CLOSES)
    page.click("#w [data-part=start]")
    wait_state(page, "error", selector="#w", timeout=8000)  # well before the widget's own 10 s deadline
    code = page.eval_on_selector("#w", "el => el.dataset.error")
    message = page.inner_text("#w [data-part=message]")
    assert page.evaluate("() => window.socketCloses") == [[path, 1000]]
    page.close()
    return code, message


@pytest.fixture(scope="module")
def broken_site() -> Iterator[str]:
    with serve("tests.settings_limits", "daphne-broken-browser") as (url, _process):
        yield url


def test_an_exception_while_opening_the_socket_says_the_server_failed(context, broken_site):
    code, message = refusal(context, broken_site, "t-broken", "/ws/rtcstream/t-broken/")
    assert code == "server_error" and "The server failed to open the stream" in message


def test_a_missing_route_says_the_stream_does_not_exist(context, broken_site):
    code, message = refusal(context, broken_site, "nowhere", "/ws/nowhere/")
    assert code == "unknown_endpoint" and '"nowhere" does not exist' in message


def test_a_server_without_a_channel_layer_says_so(context):
    with serve("tests.settings_limits", "daphne-no-layer-browser", env={"RTCSTREAM_TEST_NO_LAYER": "1"}) as (url, _):
        code, message = refusal(context, url, "t-echo", "/ws/rtcstream/t-echo/")
    assert code == "no_channel_layer" and "CHANNEL_LAYERS" in message


@pytest.fixture(scope="module")
def one_stream_site() -> Iterator[str]:
    """A daphne that carries one stream at a time (MAX_SESSIONS 1)."""
    with serve("tests.settings_limits", "daphne-one-stream-browser", env={"RTCSTREAM_TEST_MAX_SESSIONS": "1"}) as (
        url,
        _process,
    ):
        yield url


def test_a_full_server_says_so_at_the_socket_and_at_the_offer(context, one_stream_site):
    """Streams count from their offer: a page asked for consent (its socket open, nothing offered) does
    not hold the process's one stream; another page takes it; then the first page's offer is refused
    (server_busy) and says why, and once the other stops it starts on the same press of Start."""
    asking = context.new_page()
    asking.goto(f"{one_stream_site}/test-pages/widget/t-echo-recorded/")
    asking.click("rtc-stream [data-part=start]")
    asking.wait_for_selector("rtc-stream [data-part=consent]", state="visible")

    streaming = widget_page(context, one_stream_site, "t-echo")
    streaming.click("#w [data-part=start]")
    wait_state(streaming, "listening", selector="#w")

    code, message = refusal(context, one_stream_site, "t-echo", "/ws/rtcstream/t-echo/")  # a new socket: 4503
    assert code == "server_busy" and "limit of streams" in message

    asking.click("rtc-stream [data-part=consent-yes]")  # now it offers
    wait_state(asking, "error")
    assert asking.eval_on_selector("rtc-stream", "el => el.dataset.error") == "server_busy"
    assert "limit of streams" in asking.inner_text("rtc-stream [data-part=message]")

    streaming.click("#w [data-part=stop]")
    wait_state(streaming, "idle", selector="#w")
    asking.click("rtc-stream [data-part=start]")
    asking.wait_for_selector("rtc-stream [data-part=consent]", state="visible")
    asking.click("rtc-stream [data-part=consent-yes]")
    wait_state(asking, "listening")
    wait_stats(asking, "s.audio.sent.packets > 50 && s.audio.received.packets > 50")
