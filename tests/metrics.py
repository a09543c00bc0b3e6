"""Reading rtcstream's metrics as Prometheus does: scrape the view, parse the text format."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(base_url: str, **headers: str) -> Samples:
    response = requests.get(f"{base_url}/metrics/", headers=headers, timeout=10)
    assert response.status_code == 200, f"/metrics/: HTTP {response.status_code}: {response.text[:200]}"
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when absent (a counter of labels never seen yet); labels not named are summed over."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def registry_value(metrics: object, name: str, **labels: str) -> float:
    """A sample of an in-process runtime's metrics (``runtime.metrics``), every label named; 0 when absent."""
    found = metrics.registry.get_sample_value(name, labels)  # type: ignore[attr-defined]
    return 0.0 if found is None else float(found)


async def scrape_until(base_url: str, check: Callable[[Samples], bool], what: str, timeout: float = 10.0) -> Samples:
    """Scrape until ``check(samples)`` holds; fail after ``timeout`` seconds naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check(samples := await asyncio.to_thread(scrape, base_url)):
        assert loop.time() < deadline, f"the scrape never showed {what}"
        await asyncio.sleep(0.1)
    return samples
