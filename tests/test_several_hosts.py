"""Two worker hosts and one for Redis and PostgreSQL, in network namespaces (issue 11, item 2).

The client (this process) is a fourth host on the same bridge: its signalling
goes to one worker host and its outputs socket to the other; admission is shared
and either host's admin ends a session held by the other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daphne import migrate, worker
from tests.engines import postgres_server, redis_server, require_engines
from tests.netns import hosts, require_netns
from tests.workers import (
    check_cap_across_workers,
    check_outputs_and_termination,
    create_admin,
    live_count,
    offers_at_once,
    until,
    worker_env,
)

pytestmark = [pytest.mark.engines, pytest.mark.netns]

CAP = 10


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, str, str]]:
    """Yields the URLs of the two worker hosts and the DATABASE_URL."""
    require_engines()
    require_netns()
    with hosts(["db", "a", "b"]) as (_client, made):
        (db, db_address), (a, a_address), (b, b_address) = made["db"], made["a"], made["b"]
        network = db_address.rsplit(".", 1)[0] + ".0/24"
        with (
            redis_server(db_address, prefix=db, name="hosts-redis") as redis_url,
            postgres_server(db_address, prefix=db, clients=network, name="hosts-postgres") as database_url,
        ):
            env = worker_env(
                database_url,
                redis_url,
                RTCSTREAM_TEST_CAP=str(CAP),
                DJANGO_ALLOWED_HOSTS=f"{a_address},{b_address}",
            )
            migrate(env)
            create_admin(env)
            with (
                worker(env, "hosts-a", host=a_address, port=8000, prefix=a) as (url_a, _),
                worker(env, "hosts-b", host=b_address, port=8000, prefix=b) as (url_b, _),
            ):
                yield url_a, url_b, database_url


async def test_signalling_on_one_host_outputs_on_the_other_and_either_admin_terminates(site):
    a, b, database_url = site
    await check_outputs_and_termination(a, b, admin=b, database_url=database_url)
    await check_outputs_and_termination(b, a, admin=a, database_url=database_url)


async def test_admission_is_shared_by_the_hosts(site):
    a, b, database_url = site
    replies = await offers_at_once([a, b], "t-echo-three", CAP, [None])
    assert sum(r["type"] == "answer" for r in replies) == 3
    assert {r.get("code") for r in replies if r["type"] == "error"} == {"concurrency_limit"}
    await until(lambda: live_count(database_url, "t-echo-three") == 0, 10, "the slots to be released")


async def test_the_per_client_cap_holds_across_hosts(site):
    a, b, _database_url = site
    await check_cap_across_workers([a, b], CAP)
