"""Fixtures shared by the suite: the ASGI app in process, and a real daphne server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daphne import serve


@pytest.fixture
def asgi_app():
    """The demo site's ASGI application, run inside the test's event loop."""
    from rtcproject.asgi import application

    return application


@pytest.fixture(scope="session")
def daphne_server() -> Iterator[str]:
    """A real daphne process serving the site with the test settings; yields its base URL."""
    with serve("tests.settings", "daphne") as (url, _process):
        yield url
