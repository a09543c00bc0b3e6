"""StreamEndpoint validation and StreamSession bookkeeping."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rtcstream.models import (
    LiveSession,
    SessionHistory,
    SessionStatus,
    StreamEndpoint,
    StreamSession,
    handler_choices,
    validate_ice_servers,
)
from rtcstream.signalling.groups import session_group
from tests.admin_handlers import RTCSTREAM

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def registry_settings(settings):
    settings.RTCSTREAM = RTCSTREAM


def endpoint(**fields) -> StreamEndpoint:
    return StreamEndpoint(
        **{"slug": "quiet", "handler": "silence", "mode": "send-receive", "modality": "audio", **fields}
    )


class TestEndpointValidation:
    def test_a_compatible_endpoint_is_valid(self):
        endpoint().full_clean()

    def test_handler_choices_are_the_registry_names_read_when_used(self, settings):
        assert [name for name, _ in handler_choices()] == ["silence", "pause", "beeps", "mirror"]
        settings.RTCSTREAM = {"HANDLERS": {"beeps": RTCSTREAM["HANDLERS"]["beeps"]}}
        assert handler_choices() == [("beeps", "beeps")]
        assert StreamEndpoint._meta.get_field("handler").formfield().choices[1:] == [("beeps", "beeps")]

    def test_a_handler_missing_from_the_registry_is_refused(self):
        with pytest.raises(ValidationError) as info:
            endpoint(handler="nope").full_clean()
        assert "handler" in info.value.message_dict

    def test_a_mode_the_handler_cannot_serve_is_refused_and_the_message_says_what_it_can(self):
        with pytest.raises(ValidationError) as info:
            endpoint(handler="beeps", mode="send-receive", modality="audio").full_clean()
        assert "receive audio" in info.value.message_dict["mode"][0]
        endpoint(handler="beeps", mode="receive", modality="audio").full_clean()
        endpoint(handler="mirror", mode="send-receive", modality="video").full_clean()

    def test_a_handler_whose_copy_returns_itself_is_refused_on_the_handler_field(self, settings):
        settings.RTCSTREAM = {"HANDLERS": {"shared": "tests.handlers.SharedEchoHandler"}}
        with pytest.raises(ValidationError) as info:
            endpoint(handler="shared").full_clean()
        assert "copy() returned the handler itself" in info.value.message_dict["handler"][0]

    def test_handler_options_are_those_of_the_handlers_kind_with_their_types_and_bounds(self):
        with pytest.raises(ValidationError) as info:
            endpoint(handler="silence", handler_options={"min_silence_s": 0.6}).full_clean()
        assert (
            "min_silence_s: Only a ReplyOnStopWords handler or ReplyOnPause handler takes this option."
            in info.value.messages[0]
        )
        with pytest.raises(ValidationError) as info:
            endpoint(handler="pause", handler_options={"min_silence_s": 0.01, "can_interrupt": "yes"}).full_clean()
        assert "pause (seconds) must be at least 0.05" in " ".join(info.value.messages)
        assert "can interrupt must be true or false" in " ".join(info.value.messages)
        row = endpoint(handler="pause", handler_options={"min_silence_s": 1, "can_interrupt": False})
        row.full_clean()
        assert row.handler_options == {"min_silence_s": 1.0, "can_interrupt": False}

    def test_limits_may_be_empty_to_inherit_or_zero_for_none_but_not_negative(self):
        endpoint(time_limit=None, concurrency_limit=None).full_clean()
        endpoint(time_limit=0, concurrency_limit=0).full_clean()
        with pytest.raises(ValidationError) as info:
            endpoint(time_limit=-1).full_clean()
        assert set(info.value.message_dict) == {"time_limit"}


class TestIceServers:
    @pytest.mark.parametrize(
        "value",
        [
            None,
            [],
            [{"urls": "stun:stun.example.org:3478"}],
            [{"urls": ["turn:t.example.org"], "username": "u", "credential": "c"}],
        ],
    )
    def test_valid_lists_pass(self, value):
        validate_ice_servers(value)

    @pytest.mark.parametrize(
        "value",
        [
            {"urls": "stun:x"},
            ["stun:x"],
            [{"url": "stun:x"}],
            [{"urls": "http://x"}],
            [{"urls": []}],
            [{"urls": "turn:x", "credential": 5}],
        ],
    )
    def test_invalid_shapes_are_refused(self, value):
        with pytest.raises(ValidationError):
            validate_ice_servers(value)


class TestSessions:
    def test_duration_of_an_ended_session_is_end_minus_start(self):
        start = timezone.now() - datetime.timedelta(minutes=5)
        row = StreamSession(
            session_id="a", endpoint_slug="quiet", started_at=start, ended_at=start + datetime.timedelta(seconds=42)
        )
        assert row.duration == datetime.timedelta(seconds=42)

    def test_duration_of_a_live_session_grows(self):
        row = StreamSession(
            session_id="a", endpoint_slug="quiet", started_at=timezone.now() - datetime.timedelta(seconds=30)
        )
        assert datetime.timedelta(seconds=30) <= row.duration < datetime.timedelta(seconds=40)

    def test_live_and_history_split_the_rows_by_state(self):
        for sid, state in [("l", SessionStatus.LIVE), ("e", SessionStatus.ENDED), ("r", SessionStatus.REFUSED)]:
            StreamSession.objects.create(session_id=sid, endpoint_slug="quiet", state=state)
        assert [s.session_id for s in LiveSession.objects.all()] == ["l"]
        assert sorted(s.session_id for s in SessionHistory.objects.all()) == ["e", "r"]

    def test_the_terminate_group_is_named_after_the_session(self):
        row = StreamSession(session_id="abc_-1", endpoint_slug="quiet")
        assert session_group(row.session_id) == "rtcstream.session.abc_-1"
        assert str(row) == "quiet abc_-1"


def test_every_model_change_has_its_migration():
    """A field added without its migration would break every site that upgrades: makemigrations finds none."""
    from django.core.management import call_command

    call_command("makemigrations", "rtcstream", "--check", "--dry-run", verbosity=0)
