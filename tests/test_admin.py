"""The admin: endpoint forms, read-only session lists, and terminate through the channel layer."""

from __future__ import annotations

import asyncio
import sys

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import path, reverse

from rtcstream.models import SessionStatus, StreamEndpoint, StreamSession
from tests.admin_handlers import RTCSTREAM

pytestmark = pytest.mark.django_db

# This module is its own URLconf, so the tests do not depend on the demo site's pages.
urlpatterns = [path("admin/", admin.site.urls)]


@pytest.fixture(autouse=True)
def admin_settings(settings):
    settings.RTCSTREAM = RTCSTREAM
    settings.ROOT_URLCONF = __name__
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


@pytest.fixture
def sessions():
    StreamSession.objects.create(session_id="live-one", endpoint_slug="silence", client="192.0.2.1:1")
    StreamSession.objects.create(session_id="live-two", endpoint_slug="silence")
    StreamSession.objects.create(
        session_id="done-one", endpoint_slug="silence", state=SessionStatus.ENDED, end_reason="time_limit"
    )
    StreamSession.objects.create(
        session_id="turned-away", endpoint_slug="silence", state=SessionStatus.REFUSED, end_reason="concurrency_limit"
    )
    return {row.session_id: row for row in StreamSession.objects.all()}


def receive(channel: str, timeout: float = 2.0) -> dict:
    async def within_deadline() -> dict:
        return await asyncio.wait_for(get_channel_layer().receive(channel), timeout)

    return async_to_sync(within_deadline)()


def listen(session_id: str) -> str:
    """Join a fresh channel to the session's group, as its consumer does."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"rtcstream.session.{session_id}", channel)
    return channel


class TestEndpointAdmin:
    def test_the_changelist_shows_handler_mode_limits_and_live_count(self, superuser_client, sessions):
        StreamEndpoint.objects.create(slug="silence", handler="silence", time_limit=45, concurrency_limit=7)
        StreamSession.objects.filter(session_id__startswith="live").update(endpoint=StreamEndpoint.objects.get())
        response = superuser_client.get(reverse("admin:rtcstream_streamendpoint_changelist"))
        assert response.status_code == 200
        row = response.context["cl"].result_list[0]
        assert (row.handler, row.time_limit, row.concurrency_limit, row.live_count) == ("silence", 45, 7, 2)
        assert b"send-receive" in response.content

    def test_the_add_form_offers_the_registry_handlers(self, superuser_client):
        response = superuser_client.get(reverse("admin:rtcstream_streamendpoint_add"))
        assert response.status_code == 200
        for name in RTCSTREAM["HANDLERS"]:
            assert f'<option value="{name}">'.encode() in response.content

    def test_the_change_form_renders(self, superuser_client):
        row = StreamEndpoint.objects.create(slug="talk", handler="pause", handler_options={"min_silence_s": 0.5})
        response = superuser_client.get(reverse("admin:rtcstream_streamendpoint_change", args=[row.pk]))
        assert response.status_code == 200
        content = response.content.decode()
        assert "Handler options" in content
        assert 'name="option_min_silence_s"' in content and 'value="0.5"' in content
        assert "Empty keeps the handler" in content and "own: 0.45." in content  # the pause of the handler itself

    def form(self, **fields) -> dict:
        return {
            "slug": "mirror-me",
            "label": "",
            "handler": "mirror",
            "mode": "send-receive",
            "modality": "video",
            "enabled": "on",
            "time_limit": "",
            "concurrency_limit": "2",
            "ice_servers": "",
            "option_min_silence_s": "",
            "option_min_speech_s": "",
            "option_pre_roll_s": "",
            "option_max_utterance_s": "",
            "option_can_interrupt": "unknown",
            "option_turn_model": "",
            "option_turn_model_pause_s": "",
            "option_turn_model_max_pause_s": "",
            **fields,
        }

    def test_saving_a_valid_endpoint_creates_it(self, superuser_client):
        response = superuser_client.post(reverse("admin:rtcstream_streamendpoint_add"), self.form())
        assert response.status_code == 302, response.context["adminform"].form.errors
        row = StreamEndpoint.objects.get(slug="mirror-me")
        assert (row.handler, row.modality, row.concurrency_limit, row.ice_servers, row.handler_options) == (
            "mirror",
            "video",
            2,
            None,
            {},
        )

    def test_handler_options_are_saved_for_the_kinds_that_take_them_and_refused_for_others(self, superuser_client):
        form = self.form(slug="talk", handler="pause", mode="", modality="", option_min_silence_s="0.8")
        response = superuser_client.post(reverse("admin:rtcstream_streamendpoint_add"), form)
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert StreamEndpoint.objects.get(slug="talk").handler_options == {"min_silence_s": 0.8}
        response = superuser_client.post(
            reverse("admin:rtcstream_streamendpoint_add"), self.form(option_min_silence_s="0.8")
        )
        assert response.status_code == 200
        assert "option_min_silence_s" in response.context["adminform"].form.errors  # a video function takes none

    def test_the_turn_model_is_a_choice_checked_for_its_package_and_its_bound(self, superuser_client, monkeypatch):
        add = reverse("admin:rtcstream_streamendpoint_add")
        page = superuser_client.get(add).content.decode()
        assert '<option value="smart-turn">' in page and '<option value="none">' in page
        talk = dict(slug="talk", handler="pause", mode="", modality="")
        response = superuser_client.post(add, self.form(**talk, option_turn_model="smart_turn"))
        assert "option_turn_model" in response.context["adminform"].form.errors  # not one of the choices
        response = superuser_client.post(
            add, self.form(**talk, option_turn_model_pause_s="1.5", option_turn_model_max_pause_s="1.0")
        )
        assert response.status_code == 200 and "turn_model_pause_s" in str(response.context["adminform"].form.errors)
        monkeypatch.setitem(sys.modules, "pipecat", None)  # the package that ships Smart Turn is not installed
        response = superuser_client.post(add, self.form(**talk, option_turn_model="smart-turn"))
        assert response.status_code == 200
        assert "pip install --no-deps pipecat-ai==1.14.0" in str(response.context["adminform"].form.errors)
        response = superuser_client.post(add, self.form(**talk, option_turn_model="none"))
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert StreamEndpoint.objects.get(slug="talk").handler_options == {"turn_model": "none"}

    def test_a_mode_the_handler_cannot_serve_is_refused_in_the_form(self, superuser_client):
        response = superuser_client.post(reverse("admin:rtcstream_streamendpoint_add"), self.form(modality="audio"))
        assert response.status_code == 200
        assert "mode" in response.context["adminform"].form.errors
        assert not StreamEndpoint.objects.exists()

    def test_a_handler_outside_the_registry_is_refused_in_the_form(self, superuser_client):
        response = superuser_client.post(reverse("admin:rtcstream_streamendpoint_add"), self.form(handler="os.system"))
        assert "handler" in response.context["adminform"].form.errors
        assert not StreamEndpoint.objects.exists()


class TestSessionAdmin:
    def test_live_sessions_list_only_live_ones(self, superuser_client, sessions):
        response = superuser_client.get(reverse("admin:rtcstream_livesession_changelist"))
        assert response.status_code == 200
        assert {row.session_id for row in response.context["cl"].result_list} == {"live-one", "live-two"}

    def test_the_history_lists_ended_and_refused_ones_and_filters_on_reason(self, superuser_client, sessions):
        url = reverse("admin:rtcstream_sessionhistory_changelist")
        response = superuser_client.get(url)
        assert {row.session_id for row in response.context["cl"].result_list} == {"done-one", "turned-away"}
        response = superuser_client.get(url, {"end_reason__exact": "concurrency_limit"})
        assert [row.session_id for row in response.context["cl"].result_list] == ["turned-away"]
        response = superuser_client.get(url, {"state__exact": "ended"})
        assert [row.session_id for row in response.context["cl"].result_list] == ["done-one"]

    def test_session_pages_are_read_only(self, superuser_client, sessions):
        pk = sessions["live-one"].pk
        response = superuser_client.get(reverse("admin:rtcstream_livesession_change", args=[pk]))
        assert response.status_code == 200
        assert b"192.0.2.1:1" in response.content
        assert b'name="_save"' not in response.content
        assert superuser_client.get(reverse("admin:rtcstream_livesession_add")).status_code == 403
        superuser_client.post(reverse("admin:rtcstream_livesession_change", args=[pk]), {"client": "forged"})
        assert StreamSession.objects.get(pk=pk).client == "192.0.2.1:1"
        done = sessions["done-one"].pk
        assert superuser_client.get(reverse("admin:rtcstream_sessionhistory_change", args=[done])).status_code == 200

    def test_terminate_sends_the_message_to_each_selected_session_group(self, superuser_client, sessions):
        one, two = listen("live-one"), listen("live-two")
        response = superuser_client.post(
            reverse("admin:rtcstream_livesession_changelist"),
            {"action": "terminate", "_selected_action": [sessions["live-one"].pk]},
            follow=True,
        )
        assert response.status_code == 200
        assert receive(one) == {"type": "rtcstream.terminate"}
        with pytest.raises(asyncio.TimeoutError):
            receive(two, timeout=0.2)  # not selected
        assert "in-memory" in " ".join(str(m) for m in response.context["messages"])

    def test_terminate_needs_its_permission(self, client, sessions):
        viewer = User.objects.create_user("viewer", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_livesession"))
        client.force_login(viewer)
        url = reverse("admin:rtcstream_livesession_changelist")
        assert b'value="terminate"' not in client.get(url).content
        channel = listen("live-one")
        client.post(url, {"action": "terminate", "_selected_action": [sessions["live-one"].pk]})
        with pytest.raises(asyncio.TimeoutError):
            receive(channel, timeout=0.2)
        viewer.user_permissions.add(Permission.objects.get(codename="terminate_session"))
        viewer = User.objects.get(pk=viewer.pk)  # drop the permission cache
        client.force_login(viewer)
        assert b'value="terminate"' in client.get(url).content
