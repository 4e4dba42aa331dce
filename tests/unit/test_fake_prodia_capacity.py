"""The fake Prodia's `capacity` knob: a provider with a fixed number of GPUs, which the scale benchmark and
any test of back-pressure rely on. (The fake's other tests are in tests/fakes/test_fake_prodia.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import PRODIA_TOKEN
from tests.fakes.prodia import TXT2VID, FakeProdia


@pytest.fixture
async def client(fake_prodia: FakeProdia) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {PRODIA_TOKEN}"}
    async with httpx.AsyncClient(base_url=fake_prodia.base_url, headers=headers, timeout=60) as http:
        yield http


def txt2vid(prompt: str, **config: Any) -> dict[str, Any]:
    return {"type": TXT2VID, "config": {"prompt": prompt, **config}}


async def processed(client: httpx.AsyncClient, job_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (await client.get(f"job/async/{job_id}/job.state.current")).text != "processed":
        assert time.monotonic() < deadline, f"job {job_id} never finished"
        await asyncio.sleep(0.05)


async def test_posts_beyond_capacity_are_429_with_retry_after_until_a_job_finishes(
    fake_prodia: FakeProdia, client: httpx.AsyncClient
) -> None:
    fake = fake_prodia
    fake.capacity = 2
    fake.retry_after = "0.5"
    fake.stuck = True  # accepted jobs hold their place until released
    first = [await client.post("job/async", json=txt2vid(f"held clip {i}")) for i in range(2)]
    assert [r.status_code for r in first] == [201, 201]

    refused_async = await client.post("job/async", json=txt2vid("one job too many"))
    refused_sync = await client.post("job", json=txt2vid("one sync job too many"))
    for refused in (refused_async, refused_sync):
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "0.5")
    # A refused job is not created (nothing to bill); an invalid one is still refused as invalid.
    assert (await client.post("job/async", json=txt2vid("bad", duration=5))).status_code == 400
    assert len(fake.jobs) == 2
    assert (fake.in_flight, fake.capacity_refusals) == (2, 2)

    fake.stuck = False
    for response in first:
        await processed(client, response.json()["id"])
    assert fake.in_flight == 0
    assert (await client.post("job/async", json=txt2vid("room again"))).status_code == 201
    assert fake.peak_in_flight == 2


async def test_peak_in_flight_is_recorded_without_a_capacity(
    fake_prodia: FakeProdia, client: httpx.AsyncClient
) -> None:
    fake_prodia.stuck = True
    for i in range(3):
        assert (await client.post("job/async", json=txt2vid(f"unbounded clip {i}"))).status_code == 201
    assert (fake_prodia.peak_in_flight, fake_prodia.capacity_refusals) == (3, 0)
