"""The {% webrtc %} and {% rtcstream_assets %} tags (no browser needed)."""

from __future__ import annotations

import logging
import re

import pytest
from django.template import Context, Template, TemplateSyntaxError

pytestmark = pytest.mark.django_db


def render(source: str, **context: object) -> str:
    return Template("{% load rtcstream %}" + source).render(Context(context))


def test_assets_load_the_module_and_stylesheet():
    html = render("{% rtcstream_assets %}")
    assert '<script type="module" src="/static/rtcstream/rtcstream.js">' in html
    assert '<link rel="stylesheet" href="/static/rtcstream/rtcstream.css">' in html


@pytest.mark.parametrize(
    ("slug", "present", "absent"),
    [
        (
            "talk-echo",
            ['mode="send-receive"', 'data-part="mic-meter"', 'data-part="reply-meter"', 'data-part="mute"'],
            ["<video"],
        ),
        ("transcript", ['mode="send"', 'data-part="mic-meter"'], ['data-part="reply-meter"', "<audio"]),
        (
            "generate",
            ['mode="receive"', 'data-part="reply-meter"'],
            ['data-part="mic-meter"', 'data-part="mic-select"'],
        ),
        (
            "edges",
            ['modality="video"', 'data-part="local-video"', 'data-part="camera-select"', 'time-limit="120"'],
            ["<canvas"],
        ),
        ("clip", ['data-part="remote-video"'], ['data-part="local-video"']),
        (
            "call",
            [
                'modality="audio-video"',
                'data-part="remote-video"',
                'data-part="local-video"',
                'data-part="mic-meter"',
                'data-part="reply-meter"',
                'data-part="mute"',
                'data-part="speaker"',
                'data-part="mic-select"',
                'data-part="camera-select"',
                'data-part="remote-audio"',
            ],
            ["<canvas"],
        ),
    ],
)
def test_widget_matches_the_endpoint(slug, present, absent):
    html = render(f'{{% webrtc "{slug}" %}}')
    assert f'ws-path="/ws/rtcstream/{slug}/"' in html
    for text in present:
        assert text in html
    for text in absent:
        assert text not in html


def test_options_become_attributes_and_are_escaped():
    html = render(
        '{% webrtc "generate" inputs="#a,#b" trigger="#go" outputs="#x" render="chat" label=name stats_interval=500 %}',
        name="<b>Hi</b>",
    )
    for text in (
        'inputs="#a,#b"',
        'trigger="#go"',
        'outputs="#x"',
        'render="chat"',
        "&lt;b&gt;Hi&lt;/b&gt;",
        'stats-interval="500"',
    ):
        assert text in html
    # In receive mode a trigger replaces the widget's own Start button.
    assert 'data-part="start" hidden' in html
    assert "stats-interval" not in render('{% webrtc "generate" %}')  # no getStats() polling unless asked


def test_the_widget_has_no_inline_script_style_or_handler():
    """A strict Content-Security-Policy (no 'unsafe-inline') allows the widget as it is."""
    for slug in ("talk-echo", "transcript", "generate", "edges", "clip", "call"):
        html = render(f'{{% webrtc "{slug}" inputs="#a" trigger="#go" outputs="#x" autostart=True %}}')
        assert "<script" not in html
        assert not re.search(r"\sstyle\s*=|\son[a-z]+\s*=", html), html
    assets = render("{% rtcstream_assets %}")
    assert re.findall(r"<script[^>]*>", assets) == ['<script type="module" src="/static/rtcstream/rtcstream.js">']


def test_unknown_option_is_an_error():
    with pytest.raises(TemplateSyntaxError, match="unknown options"):
        render('{% webrtc "echo" inptus="#a" %}')


def test_unknown_endpoint_under_debug_names_the_slug_and_the_known_ones(settings):
    settings.DEBUG = True
    with pytest.raises(TemplateSyntaxError) as info:
        render('{% webrtc "nope" %}')
    assert "'nope'" in str(info.value) and "talk-echo" in str(info.value)


def test_unknown_endpoint_in_production_is_a_placeholder_and_a_log_line(settings, caplog):
    settings.DEBUG = False
    with caplog.at_level(logging.ERROR, logger="rtcstream.templatetags"):
        html = render('{% webrtc "nope" %}')
    assert "rtcs-unavailable" in html and "<rtc-stream" not in html
    assert "'nope'" in caplog.text


def test_text_puts_a_text_box_beside_the_microphone_of_an_endpoint_that_takes_text(settings, caplog):
    html = render('{% webrtc "t-text" text=True %}')
    assert 'data-part="text-form"' in html and 'maxlength="4000"' in html
    assert 'data-part="text-form"' not in render('{% webrtc "t-text" %}')
    settings.DEBUG = True
    with pytest.raises(TemplateSyntaxError, match='"text": True'):
        render('{% webrtc "t-reply-echo" text=True %}')
    settings.DEBUG = False
    with caplog.at_level(logging.ERROR, logger="rtcstream.templatetags"):
        html = render('{% webrtc "t-reply-echo" text=True %}')
    assert 'data-part="text-form"' not in html and 'endpoint="t-reply-echo"' in html
    assert "takes no text" in caplog.text


def test_transport_chooses_what_carries_the_media(settings, caplog):
    assert 'transport="websocket"' in render('{% webrtc "talk-echo" transport="websocket" %}')
    assert "transport=" not in render('{% webrtc "talk-echo" %}').split("data-part")[0]  # auto: the element's default
    settings.DEBUG = True
    with pytest.raises(TemplateSyntaxError, match="carries audio only"):
        render('{% webrtc "edges" transport="websocket" %}')  # video
    with pytest.raises(TemplateSyntaxError, match="not one of"):
        render('{% webrtc "talk-echo" transport="udp" %}')
    settings.DEBUG = False
    with caplog.at_level(logging.ERROR, logger="rtcstream.templatetags"):
        html = render('{% webrtc "generate" transport="websocket" %}')  # receive mode
    assert "transport=" not in html.split("data-part")[0] and "carries audio only" in caplog.text
