"""Fixtures shared by the suite: the ASGI app in process, and a real daphne server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aioice.ice
import pytest

from tests.daphne import serve
from tests.lifecycle import assert_nothing_left


@pytest.fixture
async def asgi_app(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The demo site's ASGI application, run inside the test's event loop.

    Every test that uses it ends by checking the lifecycle invariant
    (tests/lifecycle.py): nothing is left of its sessions.
    """
    from rtcproject.asgi import application

    yield application
    await assert_nothing_left(rows=request.node.get_closest_marker("django_db") is not None)


@pytest.fixture(scope="session")
def pulse_audio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One private PulseAudio for the run: the microphone and the speaker of every Firefox of the
    browser tests (tests/browser/firefox.py)."""
    from tests.browser.firefox import pulse_microphone

    with pulse_microphone(tmp_path_factory.mktemp("pulse")) as microphone:
        yield microphone


@pytest.fixture(scope="session")
def daphne_server() -> Iterator[str]:
    """A real daphne process serving the site with the test settings; yields its base URL."""
    with serve("tests.settings", "daphne") as (url, _process):
        yield url


# How many host addresses ``many_host_addresses`` gives aioice.
HOST_ADDRESSES = 40


@pytest.fixture
def many_host_addresses(monkeypatch: pytest.MonkeyPatch) -> int:
    """A host with many addresses (all loopback): aioice binds a socket for each, one after the other, so
    a peer connection's ICE gathering lasts long enough to be interrupted halfway. Returns how many."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: ["127.0.0.1"] * HOST_ADDRESSES)
    return HOST_ADDRESSES


_loopback = itertools.count(2)


@pytest.fixture
def fresh_address() -> str:
    """A loopback source address no other test of this run has used (127.0.0.2, 127.0.0.3, ...):
    a shared daphne counts its per-client cap by address, so a test that connects
    from this one starts from zero, whatever sockets earlier tests still hold."""
    n = next(_loopback)
    return f"127.0.{n // 254}.{n % 254 + 1}"


@pytest.fixture(params=["file-system", "in-memory"])
def storage(request: Any, settings: Any, tmp_path: Any) -> Any:
    """The recordings' storage (tests/test_recording.py, test_retention.py): a directory, or Django's InMemoryStorage."""
    from django.conf import settings as django_settings
    from django.core.files.storage import storages

    backend = {
        "file-system": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
        "in-memory": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }[request.param]
    settings.STORAGES = {**django_settings.STORAGES, "recordings": backend}
    return storages["recordings"]
