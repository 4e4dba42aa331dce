"""Tests of the fake Prodia server itself, so the client tests built on it can trust it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import pytest_asyncio
from PIL import Image

# Relative, so mypy (which maps this dir to `fakes.` when run on the path) and pytest agree on names.
from tests.conftest import PRODIA_TOKEN
from tests.fakes.prodia import (
    IMG2VID,
    MODERATION_ERROR,
    PRO_IMG2VID,
    PRO_TXT2VID,
    TXT2VID,
    FakeProdia,
    Fault,
)

TOKEN = PRODIA_TOKEN
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake(fake_prodia: FakeProdia) -> FakeProdia:
    return fake_prodia


@pytest_asyncio.fixture
async def client(fake: FakeProdia) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH, timeout=60) as http:
        yield http


def txt2vid(**config: Any) -> dict[str, Any]:
    return {"type": TXT2VID, "config": {"prompt": "a red ball bounces on a wooden floor", **config}}


def png(width: int = 1280, height: int = 720) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buf, format="PNG")
    return buf.getvalue()


def parts(resp: httpx.Response) -> dict[str, tuple[dict[str, str], bytes]]:
    """Split a multipart/form-data answer by hand (no parser shared with the code under test)."""
    ctype = resp.headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
    body = resp.content
    assert body.endswith(b"--" + boundary + b"--\r\n")
    found: dict[str, tuple[dict[str, str], bytes]] = {}
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        disposition = headers["Content-Disposition"]
        name = disposition.split('name="', 1)[1].split('"', 1)[0]
        assert content.endswith(b"\r\n")
        found[name] = (headers, content[:-2])
    return found


def job_part(resp: httpx.Response) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parts(resp)["job"][1])
    return data


def probe(data: bytes, tmp_path: Path) -> tuple[int, int, float, bool]:
    """(width, height, seconds, has audio) of an MP4, decoding its first frame to be sure it plays."""
    path = tmp_path / f"probe-{len(data)}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frame = next(container.decode(video=0))
        assert frame.width == video.width
        seconds = float(container.duration or 0) / av.time_base
        return video.width, video.height, seconds, bool(container.streams.audio)


async def wait_state(client: httpx.AsyncClient, job_id: str, want: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            state = (await client.get(f"job/async/{job_id}/job.state.current")).text.strip()
            if state == want:
                return
            await asyncio.sleep(0.05)


# -- auth -------------------------------------------------------------------------------------------------


async def test_missing_or_wrong_token_is_401(fake: FakeProdia) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            resp = await http.post("job", json=txt2vid(), headers=headers)
            assert resp.status_code == 401
            assert resp.headers["content-type"].startswith("text/plain")
            assert resp.text == "token is invalid"
        resp = await http.get("job/async/whatever/job.state.current")
        assert resp.status_code == 401
    assert fake.jobs == {}
    assert len(fake.requests) == 4
    assert fake.requests[1].headers["authorization"] == "Bearer wrong"


async def test_bad_token_fault_revokes_the_token(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.add_fault(Fault("GET state", "bad_token"))
    assert (await client.get("job/async/x/job.state.current")).status_code == 401
    assert fake.revoked
    assert (await client.get("job/async/x/job.json")).status_code == 401


# -- sync -------------------------------------------------------------------------------------------------


async def test_sync_txt2vid_returns_job_json_and_playable_mp4(
    fake: FakeProdia, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    resp = await client.post("job", params={"price": "true"}, json=txt2vid(seed=7))
    assert resp.status_code == 200
    found = parts(resp)
    assert set(found) == {"job", "output"}
    job_headers, raw_job = found["job"]
    assert job_headers["Content-Type"] == "application/json"
    assert 'filename="job.json"' in job_headers["Content-Disposition"]
    job = json.loads(raw_job)
    assert job["type"] == TXT2VID
    assert job["state"] == {"current": "completed"}
    assert job["config"] == {
        "prompt": "a red ball bounces on a wooden floor",
        "aspect_ratio": "16:9",
        "duration": 4,
        "seed": 7,
    }
    assert job["price"] == {"product": TXT2VID, "dollars": 0.4}
    assert job["created_at"].endswith("Z") and job["expires_at"] > job["created_at"]
    out_headers, mp4 = found["output"]
    assert out_headers["Content-Type"] == "video/mp4"
    assert 'filename="video.mp4"' in out_headers["Content-Disposition"]
    width, height, seconds, audio = probe(mp4, tmp_path)
    assert (width, height, audio) == (1280, 720, False)
    assert 3.5 < seconds < 4.5

    assert list(fake.jobs) == [job["id"]]
    assert fake.jobs[job["id"]].price == 0.4
    [recorded] = fake.requests_for("POST /job")
    assert recorded.job == txt2vid(seed=7)
    assert recorded.query == {"price": "true"}


async def test_sync_without_price_query_has_no_price(client: httpx.AsyncClient) -> None:
    resp = await client.post("job", json=txt2vid())
    assert "price" not in job_part(resp)


async def test_sync_accept_video_mp4_answers_the_raw_clip(client: httpx.AsyncClient, tmp_path: Path) -> None:
    resp = await client.post("job", json=txt2vid(), headers={"Accept": "video/mp4"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "video/mp4"
    assert probe(resp.content, tmp_path)[:2] == (1280, 720)


async def test_sync_pro_img2vid_multipart_vertical_with_audio(
    fake: FakeProdia, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    job = {
        "type": PRO_IMG2VID,
        "config": {"prompt": "the camera pushes in", "image": "input.png", "aspect_ratio": "9:16"},
    }
    files = [
        ("job", ("job.json", json.dumps(job).encode(), "application/json")),
        ("input", ("input.png", png(720, 1280), "image/png")),
    ]
    resp = await client.post("job", files=files, params={"price": "true"})
    assert resp.status_code == 200, resp.text
    result = job_part(resp)
    assert result["config"]["resolution"] == "720p"
    assert result["price"]["dollars"] == pytest.approx(1.2)
    width, height, _, audio = probe(parts(resp)["output"][1], tmp_path)
    assert (width, height, audio) == (720, 1280, True)
    assert fake.requests[-1].inputs == [("input.png", len(png(720, 1280)))]


async def test_sync_moderation_is_a_400_job_error(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    resp = await client.post("job", json=txt2vid(prompt="something Forbidden here"))
    assert resp.status_code == 400
    job = job_part(resp)
    assert job["error"] == MODERATION_ERROR
    assert fake.jobs[job["id"]].state == "failed"
    assert fake.jobs[job["id"]].price is None


# -- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "pointer"),
    [
        ({**txt2vid(), "extra": 1}, "/extra"),
        (txt2vid(steps=4), "/config/steps"),
        (txt2vid(resolution="720p"), "/config/resolution"),
        (txt2vid(duration=5), "/config/duration"),
        (txt2vid(duration=True), "/config/duration"),
        (txt2vid(duration=4.0), "/config/duration"),
        (txt2vid(aspect_ratio="1:1"), "/config/aspect_ratio"),
        (txt2vid(seed=0), "/config/seed"),
        (txt2vid(prompt="hi"), "/config/prompt"),
        (txt2vid(prompt="x" * 4097), "/config/prompt"),
        ({"type": TXT2VID, "config": {}}, "/config/prompt"),
        ({"type": TXT2VID}, "/config"),
        ({"type": PRO_TXT2VID, "config": {"prompt": "a cat", "resolution": "4k"}}, "/config/resolution"),
        ({"type": IMG2VID, "config": {"prompt": "a cat"}}, "/config/image"),
    ],
)
async def test_schema_violations_are_400_with_id_and_error(
    fake: FakeProdia, client: httpx.AsyncClient, job: dict[str, Any], pointer: str
) -> None:
    resp = await client.post("job", json=job)
    assert resp.status_code == 400
    error = job_part(resp)
    assert error["id"]
    assert f"at '{pointer}'" in error["error"]
    assert fake.jobs == {}


async def test_duration_error_reads_like_prodia(client: httpx.AsyncClient) -> None:
    resp = await client.post("job/async", json=txt2vid(duration=5))
    assert resp.status_code == 400
    assert job_part(resp)["error"].endswith("at '/config/duration': value must be one of 4, 8, 12")


@pytest.mark.parametrize(
    ("image_name", "data", "message"),
    [
        ("other.png", png(), "no uploaded input part is named 'other.png'"),
        ("input.png", b"\x89PNG\r\n\x1a\nnot really", "not a decodable image"),
        ("input.png", png()[:60], "not a decodable image"),
    ],
)
async def test_image_must_be_an_uploaded_decodable_part(
    fake: FakeProdia, client: httpx.AsyncClient, image_name: str, data: bytes, message: str
) -> None:
    job = {"type": IMG2VID, "config": {"prompt": "a slow pan", "image": image_name}}
    files = [
        ("job", ("job.json", json.dumps(job).encode(), "application/json")),
        ("input", ("input.png", data, "image/png")),
    ]
    resp = await client.post("job", files=files)
    assert resp.status_code == 400
    assert message in job_part(resp)["error"]
    assert fake.jobs == {}


async def test_multipart_needs_exactly_one_job_part(client: httpx.AsyncClient) -> None:
    raw = json.dumps(txt2vid()).encode()
    resp = await client.post("job", files=[("job", ("job.json", raw)), ("job", ("job.json", raw))])
    assert resp.status_code == 400
    assert "exactly one 'job' part" in job_part(resp)["error"]
    resp = await client.post("job", files=[("input", ("input.png", png()))])
    assert resp.status_code == 400


async def test_unknown_job_type_is_429_with_retry_after(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    resp = await client.post("job", json={"type": "inference.sora-3.txt2vid.v1", "config": {"prompt": "abc"}})
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "1"
    assert fake.jobs == {}


# -- async ------------------------------------------------------------------------------------------------


async def test_async_lifecycle(fake: FakeProdia, client: httpx.AsyncClient, tmp_path: Path) -> None:
    fake.processing_seconds = 0.5
    resp = await client.post("job/async", json=txt2vid(), params={"price": "true"})
    assert resp.status_code == 201
    created = resp.json()
    job_id = created["id"]
    assert created["state"]["current"] in ("queued", "processing")
    assert "price" not in created

    assert (await client.get(f"job/async/{job_id}/job.state.current")).text == "processing"
    assert (await client.get(f"job/async/{job_id}/output")).json() == []
    assert (await client.get(f"job/async/{job_id}/output/video.mp4")).status_code == 404
    await wait_state(client, job_id, "processed")
    assert fake.jobs[job_id].elapsed >= 0.5

    job = (await client.get(f"job/async/{job_id}/job.json", params={"price": "true"})).json()
    assert job["state"] == {"current": "processed"}
    assert job["price"] == {"product": TXT2VID, "dollars": 0.4}
    assert "price" not in (await client.get(f"job/async/{job_id}/job.json")).json()
    assert (await client.get(f"job/async/{job_id}/output")).json() == ["video.mp4"]
    video = await client.get(f"job/async/{job_id}/output/video.mp4")
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert probe(video.content, tmp_path)[:2] == (1280, 720)


async def test_async_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    for tail in ("job.state.current", "job.json", "output", "output/video.mp4"):
        assert (await client.get(f"job/async/no-such-job/{tail}")).status_code == 404


async def test_async_moderation_ends_failed(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    job_id = (await client.post("job/async", json=txt2vid(prompt="a forbidden dance"))).json()["id"]
    await wait_state(client, job_id, "failed")
    job = (await client.get(f"job/async/{job_id}/job.json")).json()
    assert job["error"] == MODERATION_ERROR
    assert (await client.get(f"job/async/{job_id}/output")).json() == []


async def test_async_refused_type_is_400_and_creates_no_job(
    fake: FakeProdia, client: httpx.AsyncClient
) -> None:
    fake.async_refused.add(TXT2VID)
    resp = await client.post("job/async", json=txt2vid())
    assert resp.status_code == 400
    assert "async" in resp.json()["error"]
    assert "/config" not in resp.text  # nothing in it looks like a config error
    assert fake.jobs == {}
    assert (await client.post("job", json=txt2vid())).status_code == 200


async def test_an_async_refusal_can_look_exactly_like_a_config_error(
    fake: FakeProdia, client: httpx.AsyncClient
) -> None:
    fake.async_refused.add(TXT2VID)
    fake.async_refusal_text = "validation failed at '/config': async jobs are not available for this type"
    resp = await client.post("job/async", json=txt2vid())
    assert resp.status_code == 400
    error = job_part(resp)
    assert error["id"] and error["error"] == fake.async_refusal_text
    assert fake.jobs == {}
    assert (await client.post("job", json=txt2vid())).status_code == 200


@pytest.mark.parametrize(
    ("style", "body", "content_type"),
    [
        ("json", '["video.mp4"]', "application/json"),
        ("objects", '[{"name": "video.mp4", "content_type": "video/mp4"}]', "application/json"),
        ("text", "video.mp4\n", "text/plain"),
        ("quoted", '"video.mp4"', "text/plain"),
        ("comma", "video.mp4", "text/plain"),
    ],
)
async def test_the_output_list_can_be_spelled_several_ways(
    fake: FakeProdia, client: httpx.AsyncClient, style: str, body: str, content_type: str
) -> None:
    fake.output_list_style = style  # type: ignore[assignment]
    job_id = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, job_id, "processed")
    resp = await client.get(f"job/async/{job_id}/output")
    assert resp.status_code == 200 and resp.text == body
    assert resp.headers["content-type"].startswith(content_type)


async def test_an_expired_result_is_404_everywhere_although_it_was_billed(
    fake: FakeProdia, client: httpx.AsyncClient
) -> None:
    tails = ("job.state.current", "job.json", "output", "output/video.mp4")
    first = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, first, "processed")
    fake.expire(first)
    for tail in tails:
        assert (await client.get(f"job/async/{first}/{tail}")).status_code == 404, tail
    assert fake.jobs[first].price == pytest.approx(0.4)
    # result_ttl: kept for that long after finishing, then gone.
    fake.result_ttl = 0.5
    second = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, second, "processed")
    assert (await client.get(f"job/async/{second}/output")).status_code == 200
    await asyncio.sleep(0.6)
    for tail in tails:
        assert (await client.get(f"job/async/{second}/{tail}")).status_code == 404, tail


@pytest.mark.parametrize(
    ("job_type", "config", "size", "wanted"),
    [
        (IMG2VID, {}, (1280, 720), None),
        (IMG2VID, {"aspect_ratio": "9:16"}, (720, 1280), None),
        (PRO_IMG2VID, {"resolution": "1080p"}, (1920, 1080), None),
        (PRO_IMG2VID, {"resolution": "1080p", "aspect_ratio": "9:16"}, (1080, 1920), None),
        (IMG2VID, {}, (64, 64), "1280x720"),
        (IMG2VID, {}, (720, 1280), "1280x720"),
        (PRO_IMG2VID, {"resolution": "1080p"}, (1280, 720), "1920x1080"),
        (PRO_IMG2VID, {"aspect_ratio": "9:16"}, (1080, 1920), "720x1280"),
    ],
)
async def test_an_input_image_must_have_exactly_the_clip_size(
    fake: FakeProdia,
    client: httpx.AsyncClient,
    job_type: str,
    config: dict[str, Any],
    size: tuple[int, int],
    wanted: str | None,
) -> None:
    job = {"type": job_type, "config": {"prompt": "a slow pan", "image": "input.png", **config}}
    files = [
        ("job", ("job.json", json.dumps(job).encode(), "application/json")),
        ("input", ("input.png", png(*size), "image/png")),
    ]
    resp = await client.post("job/async", files=files)
    if wanted is None:
        assert resp.status_code == 201, resp.text
        return
    assert resp.status_code == 400
    assert job_part(resp)["error"].endswith(
        f"input image is {size[0]}x{size[1]}; it must be exactly {wanted}"
    )
    assert fake.jobs == {}
    fake.exact_image_size = False
    assert (await client.post("job/async", files=files)).status_code == 201


async def test_stuck_jobs_stay_processing_until_released(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.stuck = True
    job_id = (await client.post("job/async", json=txt2vid())).json()["id"]
    await asyncio.sleep(0.3)
    assert (await client.get(f"job/async/{job_id}/job.state.current")).text == "processing"
    fake.stuck = False
    await wait_state(client, job_id, "processed")


# -- faults -----------------------------------------------------------------------------------------------


async def test_capacity_fault_is_429_with_retry_after_then_clears(
    fake: FakeProdia, client: httpx.AsyncClient
) -> None:
    fault = fake.add_fault(Fault("POST /job/async", "status", status=429, retry_after="3", times=2))
    for _ in range(2):
        resp = await client.post("job/async", json=txt2vid())
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "3"
    assert fault.hits == 2
    assert fake.faults == []
    assert fake.jobs == {}
    assert (await client.post("job/async", json=txt2vid())).status_code == 201


async def test_capacity_error_knob(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.capacity_error = True
    fake.retry_after = "2"
    resp = await client.post("job", json=txt2vid())
    assert (resp.status_code, resp.headers["retry-after"]) == (429, "2")


async def test_faults_match_only_their_route(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.add_fault(Fault("GET output", "status", status=503))
    assert (await client.get("job/async/x/job.json")).status_code == 404
    assert (await client.get("job/async/x/output")).status_code == 503
    with pytest.raises(ValueError, match="unknown fault match"):
        Fault("GET /output", "drop")


async def test_drop_fault_is_a_transport_error(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    job_id = (await client.post("job/async", json=txt2vid())).json()["id"]
    fake.add_fault(Fault("GET state", "drop"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.get(f"job/async/{job_id}/job.state.current")
    await wait_state(client, job_id, "processed")


async def test_sync_drop_after_work_bills_the_job_but_client_gets_transport_error(
    fake: FakeProdia, client: httpx.AsyncClient
) -> None:
    fake.add_fault(Fault("POST /job", "drop", after_work=True))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.post("job", json=txt2vid())
    [job] = fake.jobs.values()
    assert job.state == "completed"
    assert job.price == 0.4


async def test_sync_drop_before_work_creates_no_job(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.add_fault(Fault("POST /job", "drop"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.post("job", json=txt2vid())
    assert fake.jobs == {}


async def test_truncated_answers_are_transport_errors(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    job_id = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, job_id, "processed")
    fake.add_fault(Fault("GET file", "truncate"))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"job/async/{job_id}/output/video.mp4")
    fake.add_fault(Fault("GET job.json", "truncate"))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"job/async/{job_id}/job.json")
    fake.add_fault(Fault("POST /job", "truncate"))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("job", json=txt2vid())
    # A truncated sync answer still means the job ran.
    assert len(fake.jobs) == 2


async def test_hang_fault_never_answers(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.add_fault(Fault("POST /job/async", "hang"))
    with pytest.raises(httpx.ReadTimeout):
        await client.post("job/async", json=txt2vid(), timeout=0.3)
    assert fake.jobs == {}


async def test_malformed_answers(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    fake.add_fault(Fault("POST /job/async", "malformed"))
    resp = await client.post("job/async", json=txt2vid())
    assert resp.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        resp.json()
    assert len(fake.jobs) == 1  # created, but its id never reached the client

    fake.add_fault(Fault("POST /job/async", "malformed", body={"state": {"current": "queued"}}))
    resp = await client.post("job/async", json=txt2vid())
    assert resp.status_code == 201
    assert "id" not in resp.json()

    fake.add_fault(Fault("POST /job", "malformed"))
    resp = await client.post("job", json=txt2vid())
    assert resp.status_code == 200
    assert set(parts(resp)) == {"job"}
    with pytest.raises(json.JSONDecodeError):
        job_part(resp)


async def test_not_found_and_no_video_faults(fake: FakeProdia, client: httpx.AsyncClient) -> None:
    job_id = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, job_id, "processed")
    fake.add_fault(Fault("GET job.json", "not_found"))
    assert (await client.get(f"job/async/{job_id}/job.json")).status_code == 404
    fake.add_fault(Fault("GET output", "no_video"))
    assert (await client.get(f"job/async/{job_id}/output")).json() == []

    fake.add_fault(Fault("POST /job/async", "no_video"))
    hidden = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, hidden, "processed")
    assert (await client.get(f"job/async/{hidden}/output")).json() == []

    fake.add_fault(Fault("POST /job", "no_video"))
    resp = await client.post("job", json=txt2vid())
    assert resp.status_code == 200
    assert set(parts(resp)) == {"job"}


# -- output padding ---------------------------------------------------------------------------------------


async def test_clip_bytes_extra_pads_with_a_free_box(
    fake: FakeProdia, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    plain = parts(await client.post("job", json=txt2vid()))["output"][1]
    extra = 3 * 1024 * 1024 + 5
    fake.clip_bytes_extra = extra
    job_id = (await client.post("job/async", json=txt2vid())).json()["id"]
    await wait_state(client, job_id, "processed")
    padded = (await client.get(f"job/async/{job_id}/output/video.mp4")).content
    assert len(padded) == len(plain) + extra
    assert padded[: len(plain)] == plain
    assert padded[len(plain) : len(plain) + 8] == struct.pack(">I4s", extra, b"free")
    assert probe(padded, tmp_path)[:2] == (1280, 720)


# -- standalone -------------------------------------------------------------------------------------------


async def test_cli_prints_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tests.fakes.prodia", "--port", "0", "--token", "cli-token"]
    cmd += ["--clip-dir", str(tmp_path), "--async-refused", TXT2VID, "--async-refused", IMG2VID]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # stderr goes to the test's own stderr: a pipe nobody reads could fill up and block the server.
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
            assert line.startswith("listening on http://127.0.0.1:")
            url = line.split()[-1]
            assert url.endswith("/v2")
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer cli-token"}) as http:
                resp = await http.post("job/async", json=txt2vid())
                assert resp.status_code == 400
                assert "async" in resp.json()["error"]
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
