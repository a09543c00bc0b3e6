"""User guide › Server-To-Client Only (audio): the Generate button starts the generator, which plays
audio_file.wav (pydub) ``num_steps`` times: the slider sets how much the server sends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.browser.widget import set_input, wait_state

from .conftest import SERVER_TONE_HZ, SERVER_TONE_SECONDS
from .pages import closed_reasons, open_example, probe

pytestmark = pytest.mark.browser


def generate(context: Any, site: str, num_steps: int) -> dict[str, Any]:
    """Set the slider, press Generate, and return what the page heard until the stream ended."""
    page = context.new_page()
    open_example(page, site, "server-audio", listen=True)
    assert page.is_hidden("rtc-stream [data-part=start]")  # only the trigger starts it
    set_input(page, "#num-steps", num_steps)
    page.wait_for_timeout(300)
    assert page.eval_on_selector("rtc-stream", "el => el.dataset.state") == "idle"  # nothing before the click
    page.click("#generate")
    wait_state(page, "receiving")
    wait_state(page, "ended", timeout=30000)
    assert closed_reasons(page)[-1:] == ["stream_ended"]
    screenshot(page, f"guide-server-audio-{num_steps}")
    heard = probe(page)
    page.close()
    return heard


def test_generate_plays_the_file_num_steps_times(context, guide_site):
    one = generate(context, guide_site, 1)
    four = generate(context, guide_site, 4)
    for heard in (one, four):
        assert abs(heard["pitch"] - SERVER_TONE_HZ) < 15, heard  # the file's tone
    # One step is the file once (0.5 s); four steps, four times as much.
    assert 0.5 * SERVER_TONE_SECONDS < one["loudSeconds"] < 2 * SERVER_TONE_SECONDS, one
    assert 3 * SERVER_TONE_SECONDS < four["loudSeconds"] < 6 * SERVER_TONE_SECONDS, four
    # The three more plays are heard: the difference, not the ratio, since the playout adds about as much
    # to both (the receiver's concealment after the last packet, the stretching of late packets in a loaded
    # browser: CI once heard one play as 0.88 s and four as 2.18 s, 1.3 s apart, a ratio of 2.47).
    assert four["loudSeconds"] - one["loudSeconds"] > 2 * SERVER_TONE_SECONDS, (one, four)
