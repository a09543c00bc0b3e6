"""get_endpoint: admin rows win, the registry fills in; is_allowed: login and groups."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.management import call_command

from rtcstream.endpoints.resolution import get_endpoint, is_allowed
from rtcstream.models import StreamEndpoint
from tests.admin_handlers import RTCSTREAM

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def registry_settings(settings):
    settings.RTCSTREAM = RTCSTREAM


def make_row(**fields) -> StreamEndpoint:
    return StreamEndpoint.objects.create(
        **{"slug": "quiet", "handler": "silence", "mode": "send-receive", "modality": "audio", **fields}
    )


class TestGetEndpoint:
    def test_a_registry_entry_without_a_row_is_an_endpoint_of_the_same_name(self):
        endpoint = get_endpoint("silence")
        assert endpoint is not None
        assert (endpoint.slug, endpoint.spec.name, endpoint.label) == ("silence", "silence", "Quiet")
        assert (endpoint.time_limit, endpoint.concurrency_limit) == (60.0, 3)
        assert endpoint.effective_ice_servers == [{"urls": "stun:default.example.org"}]
        assert get_endpoint("nope") is None

    def test_the_registry_fallback_can_be_switched_off(self, settings):
        settings.RTCSTREAM = {**RTCSTREAM, "ENDPOINTS_FROM_REGISTRY": False}
        assert get_endpoint("silence") is None
        make_row(slug="silence")
        assert get_endpoint("silence") is not None

    def test_a_row_maps_every_field(self):
        row = make_row(
            slug="talk",
            handler="pause",
            label="Talk to me",
            time_limit=90,
            concurrency_limit=4,
            login_required=True,
            ice_servers=[{"urls": "turn:turn.example.org", "username": "u", "credential": "c"}],
            handler_options={"min_silence_s": 0.7, "can_interrupt": True},
        )
        row.allowed_groups.set([Group.objects.create(name="staff"), Group.objects.create(name="beta")])
        endpoint = get_endpoint("talk")
        assert endpoint is not None
        assert endpoint.spec.name == "pause"
        assert (endpoint.mode, endpoint.modality, endpoint.label) == ("send-receive", "audio", "Talk to me")
        assert (endpoint.time_limit, endpoint.concurrency_limit) == (90.0, 4)
        assert endpoint.login_required is True
        assert endpoint.allowed_groups == ("beta", "staff")
        assert endpoint.effective_ice_servers == [{"urls": "turn:turn.example.org", "username": "u", "credential": "c"}]
        assert endpoint.handler_options == {"min_silence_s": 0.7, "can_interrupt": True}

    def test_an_empty_label_falls_back_to_the_handler_label(self):
        make_row()
        assert get_endpoint("quiet").label == "Quiet"

    def test_a_row_wins_over_the_registry_entry_of_the_same_name(self):
        make_row(slug="silence", handler="pause", concurrency_limit=0)
        endpoint = get_endpoint("silence")
        assert endpoint.spec.name == "pause"
        assert endpoint.concurrency_limit is None  # 0: none, whatever the entry says

    def test_what_a_row_leaves_empty_is_its_registry_entrys_read_when_used(self, settings):
        make_row(slug="hush", handler="silence", mode="", modality="", time_limit=None, concurrency_limit=None)
        endpoint = get_endpoint("hush")
        assert (endpoint.mode, endpoint.modality, endpoint.time_limit, endpoint.concurrency_limit) == (
            "send-receive",
            "audio",
            60.0,
            3,
        )
        entry = {**RTCSTREAM["HANDLERS"]["silence"], "time_limit": 15, "concurrency_limit": 1}
        settings.RTCSTREAM = {**RTCSTREAM, "HANDLERS": {**RTCSTREAM["HANDLERS"], "silence": entry}}
        assert (get_endpoint("hush").time_limit, get_endpoint("hush").concurrency_limit) == (15.0, 1)

    def test_a_disabled_row_hides_the_registry_entry_too(self):
        make_row(slug="silence", enabled=False)
        assert get_endpoint("silence") is None

    def test_edits_apply_to_the_next_call(self):
        row = make_row(concurrency_limit=2)
        assert get_endpoint("quiet").concurrency_limit == 2
        row.concurrency_limit = 5
        row.time_limit = 30
        row.save()
        endpoint = get_endpoint("quiet")
        assert (endpoint.concurrency_limit, endpoint.time_limit) == (5, 30.0)
        StreamEndpoint.objects.filter(pk=row.pk).update(enabled=False)
        assert get_endpoint("quiet") is None

    def test_a_row_whose_handler_left_the_registry_is_refused(self, settings):
        make_row(handler="beeps", mode="receive")
        settings.RTCSTREAM = {"HANDLERS": {"silence": RTCSTREAM["HANDLERS"]["silence"]}}
        assert get_endpoint("quiet") is None

    def test_a_row_whose_handler_can_no_longer_serve_its_mode_is_refused(self):
        make_row(handler="beeps", mode="send-receive")  # saved without full_clean
        assert get_endpoint("quiet") is None


class TestIsAllowed:
    @pytest.fixture
    def users(self):
        member = User.objects.create_user("member")
        member.groups.add(Group.objects.create(name="beta"))
        return {
            "member": member,
            "other": User.objects.create_user("other"),
            "inactive": User.objects.create_user("inactive", is_active=False),
            "admin": User.objects.create_superuser("admin"),
            "anonymous": AnonymousUser(),
            "none": None,
        }

    def allowed(self, users, **fields) -> set[str]:
        row = make_row(slug=f"e{StreamEndpoint.objects.count()}", **{k: v for k, v in fields.items() if k != "groups"})
        row.allowed_groups.set(Group.objects.filter(name__in=fields.get("groups", ())))
        endpoint = get_endpoint(row.slug)
        return {name for name, user in users.items() if is_allowed(endpoint, user)}

    def test_an_open_endpoint_admits_everyone(self, users):
        assert self.allowed(users) == set(users)

    def test_login_required_admits_active_users_only(self, users):
        assert self.allowed(users, login_required=True) == {"member", "other", "admin"}

    def test_allowed_groups_admit_members_and_superusers_even_without_login_required(self, users):
        assert self.allowed(users, groups=["beta"]) == {"member", "admin"}


class TestEndpointsCommand:
    def run(self, *args: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("rtcstream_endpoints", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_creates_one_row_per_registry_entry_that_copies_nothing(self):
        out, _ = self.run()
        rows = {row.slug: row for row in StreamEndpoint.objects.all()}
        assert set(rows) == {"silence", "pause", "beeps", "mirror"}
        for row in rows.values():
            assert (row.mode, row.modality, row.time_limit, row.concurrency_limit, row.handler_options) == (
                "",
                "",
                None,
                None,
                {},
            )
        assert (get_endpoint("silence").time_limit, get_endpoint("silence").concurrency_limit) == (60, 3)
        assert (get_endpoint("beeps").mode, get_endpoint("beeps").modality) == ("receive", "audio")
        assert all(row.handler == row.slug and row.enabled for row in rows.values())
        for row in rows.values():
            row.full_clean()
        assert "4 endpoint(s) created" in out

    def test_running_it_again_changes_nothing(self):
        self.run()
        StreamEndpoint.objects.filter(slug="silence").update(concurrency_limit=9, enabled=False)
        before = list(StreamEndpoint.objects.values())
        out, _ = self.run()
        assert list(StreamEndpoint.objects.values()) == before
        assert "0 endpoint(s) created, 4 already configured" in out

    def test_a_renamed_endpoint_is_not_recreated(self):
        self.run()
        StreamEndpoint.objects.filter(slug="silence").update(slug="hush")
        self.run()
        assert not StreamEndpoint.objects.filter(slug="silence").exists()

    def test_a_broken_entry_is_skipped_and_the_others_created(self, settings):
        settings.RTCSTREAM = {"HANDLERS": {**RTCSTREAM["HANDLERS"], "broken": "tests.admin_handlers.missing"}}
        out, err = self.run()
        assert "broken" in err
        assert StreamEndpoint.objects.count() == 4
        assert "1 skipped" in out

    def test_dry_run_writes_nothing(self):
        out, _ = self.run("--dry-run")
        assert "Would create endpoint 'silence'" in out
        assert not StreamEndpoint.objects.exists()
