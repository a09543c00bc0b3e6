"""FastRTC's Stream(...) declaration: resolved by the registry, rendered by the tag, run by sessions."""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template

from rtcproject.demos import fastrtc_app
from rtcstream import Stream, VideoStreamHandler
from rtcstream import components as gr
from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.endpoints.registry import RegistryError, resolve_entry
from rtcstream.endpoints.wiring import wire
from rtcstream.session.inputs import SessionInputs, StateOutputError
from tests import speech


def test_a_stream_resolves_like_an_entry():
    spec = resolve_entry("talk", "rtcproject.demos.fastrtc_app.stream")
    assert spec.kind.name == "reply_on_pause" and spec.handler is fastrtc_app.stream.handler
    assert (spec.mode, spec.modality, spec.time_limit, spec.concurrency_limit) == ("send-receive", "audio", 90, 5)
    assert spec.on_additional_outputs is fastrtc_app.stream.additional_outputs_handler
    assert [type(c).__name__ for c in spec.page_inputs] == ["Slider", "Chatbot"]
    assert spec.page_outputs == (fastrtc_app.chatbot,)
    assert spec.label == "Talk back"  # ui_args["title"]
    # Settings may add to, or override, what the Stream declares.
    spec = resolve_entry("talk", {"handler": "rtcproject.demos.fastrtc_app.stream", "time_limit": 30, "label": "Talk"})
    assert (spec.time_limit, spec.label, spec.concurrency_limit) == (30, "Talk", 5)


def test_a_video_stream_handler_resolves_to_its_function_with_its_frame_rate():
    from tests import handlers

    spec = resolve_entry("skip", "tests.handlers.skip_frames_stream")
    assert spec.handler is handlers.process_image and spec.kind.name == "video_function"
    assert (spec.mode, spec.modality, spec.fps) == ("send-receive", "video", 30)
    spec = resolve_entry("gen", "tests.handlers.fps_stream")
    assert spec.handler is handlers.sixty_frames_a_second and (spec.mode, spec.fps) == ("receive", 60)
    assert resolve_entry("gen", {"handler": "tests.handlers.fps_stream", "fps": 24}).fps == 24  # the entry wins
    with pytest.raises(TypeError, match="function or a generator function"):
        VideoStreamHandler("not callable")


def test_a_stream_has_no_gradio_ui_and_says_what_to_do():
    with pytest.raises(NotImplementedError, match=r"RTCSTREAM\['HANDLERS'\].*webrtc"):
        fastrtc_app.stream.ui.launch()
    with pytest.raises(NotImplementedError, match="webrtc"):
        fastrtc_app.stream.mount(object())


def test_concurrency_default_keeps_the_sites_default_and_none_means_no_limit(settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "DEFAULT_CONCURRENCY_LIMIT": 3}
    handler = fastrtc_app.stream.handler
    assert Stream(handler, modality="audio").entry().get("concurrency_limit", "site") == "site"
    assert Stream(handler, modality="audio", concurrency_limit=None).entry()["concurrency_limit"] is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"additional_outputs": [gr.Checkbox()]}, "Checkbox cannot be one of additional_outputs"),
        ({"additional_inputs": [object()]}, r"additional_inputs\[0\] is a builtins.object"),
        ({"additional_inputs": [gr.State()], "state": [1]}, "both 'state' and additional_inputs"),
    ],
)
def test_wrong_components_are_registry_errors(entry, message):
    with pytest.raises(RegistryError, match=message):
        resolve_entry("x", {"handler": "tests.handlers.reply_echo", **entry})


def test_components_are_placed_by_position_with_state_on_the_server():
    state, chat, volume = gr.State([]), gr.Chatbot(type="messages"), gr.Slider(0, 1, 0.5)
    transcript = gr.Textbox("start")
    declared = wire([volume, state, chat], [chat, state, transcript])
    assert declared.inputs == (volume, chat) and declared.outputs == (chat, transcript)
    one, two = SessionInputs(wiring=declared.wiring), SessionInputs(wiring=declared.wiring)
    one.set_page([0.8, [{"role": "user", "content": "hi"}]])
    # The State sits where the Stream lists it, between the page's two values.
    assert one.values() == (0.8, [], [{"role": "user", "content": "hi"}])
    # The hook gets every output's current value first (the state's, the page ones' last sent), then the new ones.
    assert one.hook_arguments(["new"]) == [[], [], "start", "new"]
    assert one.take_state([["m"], ["s"], "text"]) == [["m"], "text"]  # the state's value stays here
    assert one.values()[1] == ["s"] and two.values() == (None, [], None)  # per session
    assert one.hook_arguments([]) == [["m"], ["s"], "text"]
    with pytest.raises(StateOutputError, match="3 component"):
        one.take_state([1])
    # One output: the hook's result is its value, even when it is a list.
    single = SessionInputs(wiring=wire([], [chat]).wiring)
    assert single.hook_values([{"role": "user", "content": "a"}]) == [[{"role": "user", "content": "a"}]]


def render(source: str) -> str:
    return Template("{% load rtcstream %}" + source).render(Context())


@pytest.mark.django_db
def test_the_tag_renders_the_streams_components_wired_to_the_widget():
    html = render('{% webrtc "fastrtc-app" %}')
    assert re.search(r'<input id="rtcs-fastrtc-app-0" type="range" min="0" max="1" step="0.05" value="0.5">', html)
    assert '<ol id="rtcs-fastrtc-app-1" class="rtcs-chat"' in html
    assert html.count('id="rtcs-fastrtc-app-1"') == 1  # in both lists, one element
    assert 'inputs="#rtcs-fastrtc-app-0,#rtcs-fastrtc-app-1"' in html
    assert 'outputs="#rtcs-fastrtc-app-1"' in html and 'render="chat"' in html
    assert "Volume" in html and 'modality="audio"' in html and 'time-limit="90"' in html
    assert "<script" not in html and not re.search(r"\sstyle\s*=|\son[a-z]+\s*=", html)
    # A template that wires its own inputs gets none of the Stream's input components.
    own = render('{% webrtc "fastrtc-app" id="talk" inputs="#mine" %}')
    assert 'inputs="#mine"' in own and 'type="range"' not in own and 'outputs="#talk-0"' in own


def users(chat: list[dict]) -> int:
    return sum(message["role"] == "user" for message in chat)


def replied(client: RtcClient, volume: float) -> list[dict] | None:
    """The conversation of the first output that ends with a reply at ``volume``, if one has come."""
    for output in client.outputs:
        chat = output.get("values", [None])[0]
        if chat and chat[-1]["content"].startswith(f"Said back at volume {volume:g}, "):
            return chat
    return None


@pytest.mark.django_db(transaction=True)
async def test_the_moved_app_runs_with_the_python_client(asgi_app):
    speech.require_espeak()
    recording = speech.utterances([speech.FIRST_SENTENCE, speech.SECOND_SENTENCE], gaps=[5.0], lead=0.5, tail=2.0)
    async with await RtcClient.connect(asgi_app, "fastrtc-app") as client:
        # The page sends the slider's and the chatbot's values, in the Stream's order.
        await client.start(audio=ArrayAudioTrack(recording.samples, loop=True), inputs=[0.5, []])
        # One output: the whole conversation, as the hook returned it (not split into messages).
        chat = await client.wait_until(lambda: replied(client, 0.5), timeout=40)
        assert chat[0]["role"] == "user" and chat[-1]["role"] == "assistant", chat
        assert chat[-1]["content"] == f"Said back at volume 0.5, turn {users(chat)}."
        await client.wait_until(lambda: client.audio.audible_seconds() > 0.5, timeout=30)  # the reply is heard
        # The page shows it and sends it back with the slider moved: the next turn sees both.
        await client.set_inputs(0.25, chat)
        later = await client.wait_until(lambda: replied(client, 0.25), timeout=40)
        assert later[: len(chat)] == chat
        assert later[-1]["content"] == f"Said back at volume 0.25, turn {users(later)}."


def test_components_render_what_the_page_reads():
    from rtcstream.components import page_fields

    numbers = gr.Dropdown([1, 2], value=2, label="N")
    radio = gr.Radio(["a", "b"], label="R")
    notes = gr.Markdown("**as text**")
    fields = page_fields([numbers, radio], [notes], "p")
    html = "".join(fields.inputs_html + fields.outputs_html)
    assert '<select id="p-0" data-rtcstream-json>' in html and '<option value="2" selected>' in html
    assert 'id="p-1-0" name="p-1" value="a"' in html  # one button of the group is the input
    assert '<div id="p-2" class="rtcs-text">**as text**</div>' in html  # Markdown is shown as text
    assert fields.options == {"inputs": "#p-0,#p-1-0", "outputs": "#p-2", "render": "text"}
    with pytest.raises(AttributeError, match="has no 'Image'.*Slider"):
        gr.Image()
    with pytest.raises(ValueError, match="type='messages'"):
        gr.Chatbot(type="tuples")
