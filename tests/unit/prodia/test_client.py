"""The Prodia client against the fake Prodia server over real HTTP: every path, retry and error."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

from bot.domain.models import JobRequest, JobType
from bot.errors import (
    ProdiaAuthError,
    ProdiaJobLost,
    ProdiaNoCapacity,
    ProdiaProtocolError,
    ProdiaRejected,
    ProdiaResultExpired,
    ProdiaUnavailable,
)
from bot.media.probe import probe_clip
from bot.prodia.backend import Endpoint
from bot.prodia.client import ProdiaClient
from tests.conftest import PRODIA_TOKEN
from tests.fakes.prodia import MODERATION_ERROR, FakeProdia, Fault


def make_client(base_url: str, token: str = PRODIA_TOKEN, **options: Any) -> ProdiaClient:
    settings: dict[str, Any] = {
        "poll_min_seconds": 0.05,
        "poll_max_seconds": 0.2,
        "retry_base_seconds": 0.01,
        "retry_after_max_seconds": 0.2,
        "max_attempts": 4,
        "read_timeout": 5.0,
        **options,
    }
    return ProdiaClient(token=SecretStr(token), base_url=base_url, **settings)


@pytest.fixture
async def client(fake_prodia: FakeProdia) -> AsyncIterator[ProdiaClient]:
    prodia = make_client(fake_prodia.base_url)
    yield prodia
    await prodia.aclose()


class Accepted:
    """Records what the client reports the moment Prodia accepts a job."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Endpoint]] = []

    async def __call__(self, job_id: str, endpoint: Endpoint) -> None:
        self.calls.append((job_id, endpoint))


def png_file(tmp_path: Path, size: tuple[int, int]) -> str:
    """A still of exactly the clip's size, as the bot's image preparation makes it (the fake checks)."""
    path = tmp_path / "still.png"
    Image.new("RGB", size, (20, 160, 60)).save(path)
    return str(path)


def posts(fake: FakeProdia, route: str) -> int:
    return len(fake.requests_for(route))


@pytest.mark.parametrize(
    ("values", "size", "audio"),
    [
        ({}, (1280, 720), False),
        ({"image": True, "aspect_ratio": "9:16"}, (720, 1280), False),
        ({"model": "sora-2-pro", "resolution": "1080p"}, (1920, 1080), True),
        ({"model": "sora-2-pro", "image": True}, (1280, 720), True),
    ],
)
async def test_each_job_type_runs_async_end_to_end(
    client: ProdiaClient,
    fake_prodia: FakeProdia,
    tmp_path: Path,
    values: dict[str, Any],
    size: tuple[int, int],
    audio: bool,
) -> None:
    if values.pop("image", False):
        values["image_path"] = png_file(tmp_path, size)
    request = JobRequest.parse(prompt="A cyclist sprints up a steep hill", seed=42, **values)
    accepted = Accepted()
    result = await client.generate(request, tmp_path / "out.mp4", accepted)
    assert accepted.calls == [(result.prodia_job_id, "async")]
    assert result.endpoint == "async"
    job = fake_prodia.jobs[result.prodia_job_id]
    assert job.type == request.job_type.value
    assert result.price_dollars == pytest.approx(job.price)
    info = probe_clip(result.path)
    assert (info.width, info.height) == size
    assert info.duration == pytest.approx(request.duration, abs=0.2)
    assert (info.audio_codec == "aac") is audio
    sent = fake_prodia.requests_for("POST /job/async")[0]
    assert sent.job == request.prodia_job()
    if request.image_path:
        assert [name for name, _ in sent.inputs] == [request.input_filename]
    assert sent.query.get("price") == "true"


async def test_async_refusal_falls_back_to_sync_and_is_remembered_per_type(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.async_refused.add(JobType.TXT2VID.value)
    request = JobRequest.parse(prompt="a paper boat drifts down a gutter")
    accepted = Accepted()
    first = await client.generate(request, tmp_path / "a.mp4", accepted)
    second = await client.generate(request, tmp_path / "b.mp4", accepted)
    assert first.endpoint == second.endpoint == "sync"
    assert accepted.calls == [(first.prodia_job_id, "sync"), (second.prodia_job_id, "sync")]
    assert posts(fake_prodia, "POST /job/async") == 1  # the second job went straight to sync
    assert posts(fake_prodia, "POST /job") == 2
    assert client.sync_only == {JobType.TXT2VID}
    assert probe_clip(second.path).width == 1280
    # another type still tries async first
    pro = await client.generate(
        JobRequest.parse(prompt="a barista pulls a shot", model="sora-2-pro"), tmp_path / "c.mp4", accepted
    )
    assert pro.endpoint == "async"


async def test_sync_answers_are_streamed_to_disk_with_their_price(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    client.sync_only.add(JobType.PRO_TXT2VID)
    request = JobRequest.parse(prompt="rain on a metal roof", model="sora-2-pro", duration=8)
    result = await client.generate(request, tmp_path / "s.mp4", Accepted())
    assert result.price_dollars == pytest.approx(2.4)
    info = probe_clip(result.path)
    assert info.audio_codec == "aac" and info.duration == pytest.approx(8, abs=0.2)


async def test_a_bad_token_fails_at_once_without_retries(fake_prodia: FakeProdia, tmp_path: Path) -> None:
    prodia = make_client(fake_prodia.base_url, token="wrong-token")
    with pytest.raises(ProdiaAuthError):
        await prodia.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    await prodia.aclose()
    assert posts(fake_prodia, "POST /job/async") == 1


async def test_a_token_revoked_mid_job_ends_in_an_auth_error(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.processing_seconds = 0.5
    fake_prodia.add_fault(Fault("GET state", "bad_token"))
    with pytest.raises(ProdiaAuthError):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())


async def test_moderation_rejection_async_carries_prodia_text_and_job_id(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    accepted = Accepted()
    with pytest.raises(ProdiaRejected) as caught:
        await client.generate(JobRequest.parse(prompt="something forbidden"), tmp_path / "x.mp4", accepted)
    assert caught.value.error == MODERATION_ERROR
    assert caught.value.prodia_job_id == accepted.calls[0][0]
    assert MODERATION_ERROR in caught.value.user_message


async def test_moderation_rejection_sync_is_not_retried(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    client.sync_only.add(JobType.TXT2VID)
    with pytest.raises(ProdiaRejected) as caught:
        await client.generate(JobRequest.parse(prompt="something forbidden"), tmp_path / "x.mp4", Accepted())
    assert caught.value.error == MODERATION_ERROR and caught.value.prodia_job_id
    assert posts(fake_prodia, "POST /job") == 1


async def test_a_config_error_on_async_is_told_by_one_sync_try_and_not_remembered(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    # Issue 10: a 400's text is no interface, so async 400 -> sync once; sync's 400 job.error is the verdict.
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("plain text, not a picture")
    request = JobRequest.parse(prompt="animate this", image_path=str(not_an_image))
    accepted = Accepted()
    with pytest.raises(ProdiaRejected) as caught:
        await client.generate(request, tmp_path / "x.mp4", accepted)
    assert "/config/image" in caught.value.error and caught.value.prodia_job_id
    assert posts(fake_prodia, "POST /job/async") == 1 and posts(fake_prodia, "POST /job") == 1
    assert client.sync_only == set() and accepted.calls == [] and fake_prodia.jobs == {}
    # Nothing remembered: the next job of the type goes async first again.
    ok = await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "y.mp4", accepted)
    assert ok.endpoint == "async"


@pytest.mark.parametrize(
    "refusal",
    [
        "validation failed at '/config': async jobs are not available for this job type",
        "/config is fine but async is off for inference.sora-2.txt2vid.v1",
        "Bad Request",
    ],
)
async def test_an_async_refusal_worded_like_a_config_error_still_falls_back_to_sync(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path, refusal: str
) -> None:
    fake_prodia.async_refused.add(JobType.TXT2VID.value)
    fake_prodia.async_refusal_text = refusal
    accepted = Accepted()
    first = await client.generate(JobRequest.parse(prompt="a paper boat"), tmp_path / "a.mp4", accepted)
    assert first.endpoint == "sync" and accepted.calls == [(first.prodia_job_id, "sync")]
    assert client.sync_only == {JobType.TXT2VID}
    await client.generate(JobRequest.parse(prompt="a paper boat"), tmp_path / "b.mp4", accepted)
    assert posts(fake_prodia, "POST /job/async") == 1 and posts(fake_prodia, "POST /job") == 2


@pytest.mark.parametrize("style", ["json", "objects", "text", "quoted", "comma"])
async def test_the_output_list_is_read_however_it_is_spelled(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path, style: str
) -> None:
    fake_prodia.output_list_style = style  # type: ignore[assignment]
    result = await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert result.endpoint == "async" and probe_clip(result.path).width == 1280
    assert [r.path.rsplit("/", 1)[-1] for r in fake_prodia.requests_for("GET file")] == ["video.mp4"]


@pytest.mark.parametrize("route", ["GET job.json", "GET output", "GET file"])
async def test_a_404_for_a_finished_jobs_result_says_the_paid_result_is_gone(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path, route: str
) -> None:
    fake_prodia.add_fault(Fault(route, "not_found", times=10))
    accepted = Accepted()
    with pytest.raises(ProdiaResultExpired) as caught:
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", accepted)
    assert caught.value.prodia_job_id == accepted.calls[0][0]
    assert "the result is gone" in caught.value.user_message.lower() and "paid" in caught.value.user_message
    assert not isinstance(caught.value, ProdiaJobLost)
    assert fake_prodia.jobs[caught.value.prodia_job_id].price == pytest.approx(0.4)  # Prodia did bill it
    assert posts(fake_prodia, "POST /job/async") == 1 and posts(fake_prodia, "POST /job") == 0


async def test_resuming_a_job_whose_result_expired_during_an_outage_says_it_is_gone(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    accepted = Accepted()
    request = JobRequest.parse(prompt="a dog runs")
    done = await client.generate(request, tmp_path / "a.mp4", accepted)
    fake_prodia.result_ttl = 0.0  # the bot was away longer than Prodia keeps results
    with pytest.raises(ProdiaResultExpired):
        await client.resume(request, done.prodia_job_id, "async", tmp_path / "b.mp4")
    assert not (tmp_path / "b.mp4").exists()


@pytest.mark.parametrize("retry_after", ["1", None])
async def test_429_on_create_is_retried_honouring_retry_after(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path, retry_after: str | None
) -> None:
    fake_prodia.add_fault(Fault("POST /job/async", "status", status=429, retry_after=retry_after, times=2))
    result = await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert result.endpoint == "async"
    assert posts(fake_prodia, "POST /job/async") == 3
    assert len(fake_prodia.jobs) == 1


async def test_lasting_429_ends_as_no_capacity_after_bounded_attempts(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.capacity_error = True
    fake_prodia.retry_after = "0"
    with pytest.raises(ProdiaNoCapacity):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert posts(fake_prodia, "POST /job/async") == 4
    assert fake_prodia.jobs == {}


async def test_429_on_sync_is_resent_because_no_job_started(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    client.sync_only.add(JobType.TXT2VID)
    fake_prodia.add_fault(Fault("POST /job", "status", status=429, retry_after="0"))
    result = await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert result.endpoint == "sync" and posts(fake_prodia, "POST /job") == 2 and len(fake_prodia.jobs) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_on_reads_and_async_create_are_retried(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path, status: int
) -> None:
    fake_prodia.add_fault(Fault("POST /job/async", "status", status=status))
    fake_prodia.add_fault(Fault("GET state", "status", status=status, times=2))
    fake_prodia.add_fault(Fault("GET file", "status", status=status))
    result = await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert probe_clip(result.path).width == 1280
    assert len(fake_prodia.jobs) == 1


async def test_5xx_on_sync_is_not_resent(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    client.sync_only.add(JobType.TXT2VID)
    fake_prodia.add_fault(Fault("POST /job", "status", status=502))
    with pytest.raises(ProdiaUnavailable):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert posts(fake_prodia, "POST /job") == 1


async def test_a_sync_connection_dropped_after_the_job_ran_is_never_resent(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    client.sync_only.add(JobType.TXT2VID)
    fake_prodia.add_fault(Fault("POST /job", "drop", after_work=True))
    with pytest.raises(ProdiaUnavailable, match="not re-sent"):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert posts(fake_prodia, "POST /job") == 1
    assert len(fake_prodia.jobs) == 1  # billed once, not twice


async def test_a_truncated_sync_answer_is_a_protocol_error_and_not_resent(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    client.sync_only.add(JobType.TXT2VID)
    fake_prodia.add_fault(Fault("POST /job", "truncate"))
    with pytest.raises(ProdiaProtocolError):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert posts(fake_prodia, "POST /job") == 1


async def test_a_dropped_async_create_is_not_resent(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.add_fault(Fault("POST /job/async", "drop", after_work=True))
    with pytest.raises(ProdiaUnavailable):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert posts(fake_prodia, "POST /job/async") == 1


@pytest.mark.parametrize("kind", ["drop", "truncate", "hang"])
async def test_transport_faults_on_reads_are_retried(
    fake_prodia: FakeProdia, tmp_path: Path, kind: str
) -> None:
    prodia = make_client(fake_prodia.base_url, read_timeout=0.5)
    fake_prodia.add_fault(Fault("GET state", kind))  # type: ignore[arg-type]
    fake_prodia.add_fault(Fault("GET file", kind))  # type: ignore[arg-type]
    result = await prodia.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    await prodia.aclose()
    assert probe_clip(result.path).duration == pytest.approx(4, abs=0.2)
    assert len(fake_prodia.requests_for("GET file")) == 2


async def test_a_malformed_async_answer_is_a_protocol_error(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.add_fault(Fault("POST /job/async", "malformed"))
    with pytest.raises(ProdiaProtocolError):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    assert posts(fake_prodia, "POST /job/async") == 1


async def test_an_output_list_without_a_video_is_a_protocol_error(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.add_fault(Fault("GET output", "no_video"))
    with pytest.raises(ProdiaProtocolError, match="no video"):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())


async def test_an_unknown_async_id_is_a_lost_job(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.add_fault(Fault("GET state", "not_found"))
    with pytest.raises(ProdiaJobLost):
        await client.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())


async def test_resume_polls_an_existing_job_without_submitting_again(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.processing_seconds = 0.3
    request = JobRequest.parse(prompt="a dog runs")
    first = await client.generate(request, tmp_path / "a.mp4", Accepted())
    again = await client.resume(request, first.prodia_job_id, "async", tmp_path / "b.mp4")
    assert again.prodia_job_id == first.prodia_job_id
    assert (tmp_path / "b.mp4").read_bytes() == (tmp_path / "a.mp4").read_bytes()
    assert posts(fake_prodia, "POST /job/async") == 1
    with pytest.raises(ProdiaJobLost):
        await client.resume(request, "some-sync-id", "sync", tmp_path / "c.mp4")
    # A sync job whose answer was already on disk when its process died is finished from the file.
    done = await client.resume(request, "sync-id", "sync", tmp_path / "a.mp4")
    assert done.path == tmp_path / "a.mp4" and done.endpoint == "sync"
    (tmp_path / "broken.mp4").write_bytes(b"not a clip")
    with pytest.raises(ProdiaProtocolError):
        await client.resume(request, "sync-id", "sync", tmp_path / "broken.mp4")


async def test_connection_refused_is_retried_then_reported_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prodia = make_client(f"http://127.0.0.1:{port}/v2", max_attempts=3)
    with pytest.raises(ProdiaUnavailable):
        await prodia.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    await prodia.aclose()


async def test_the_token_never_appears_in_errors_or_logs(
    fake_prodia: FakeProdia, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "top-secret-token-should-not-leak"
    prodia = make_client(fake_prodia.base_url, token=secret)
    with caplog.at_level(logging.DEBUG), pytest.raises(ProdiaAuthError) as caught:
        await prodia.generate(JobRequest.parse(prompt="a dog runs"), tmp_path / "x.mp4", Accepted())
    await prodia.aclose()
    assert "send_request_headers" in caplog.text  # the HTTP traffic was really logged and captured
    assert secret not in caplog.text
    assert secret not in str(caught.value) and secret not in caught.value.user_message


async def test_each_request_that_may_bill_is_announced_before_it_is_sent(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.async_refused.add(JobType.TXT2VID.value)
    order: list[str] = []

    async def sent(endpoint: Endpoint) -> None:
        order.append(f"sent {endpoint} after {len(fake_prodia.requests)} request(s)")

    async def accepted(job_id: str, endpoint: Endpoint) -> None:
        order.append(f"accepted {endpoint}")

    await client.generate(JobRequest.parse(prompt="a paper boat"), tmp_path / "a.mp4", accepted, sent)
    # The async POST, refused with 400, then the sync POST: each announced before it went out.
    assert order == ["sent async after 0 request(s)", "sent sync after 1 request(s)", "accepted sync"]


async def test_a_sync_answer_without_a_clip_says_what_prodia_charged(
    client: ProdiaClient, fake_prodia: FakeProdia, tmp_path: Path
) -> None:
    fake_prodia.async_refused.add(JobType.TXT2VID.value)
    # The job part names the job and its price; no clip follows.
    fake_prodia.add_fault(Fault("POST /job", "malformed", body={"id": "j-1", "price": {"dollars": 0.55}}))
    with pytest.raises(ProdiaProtocolError) as raised:
        await client.generate(JobRequest.parse(prompt="a paper boat"), tmp_path / "a.mp4", Accepted())
    assert raised.value.price_dollars == pytest.approx(0.55)
    assert not raised.value.surely_not_billed


async def test_only_a_refused_connection_is_surely_not_billed(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/v2", max_attempts=2, retry_base_seconds=0.01)
    try:
        with pytest.raises(ProdiaUnavailable) as raised:
            await client.generate(JobRequest.parse(prompt="a paper boat"), tmp_path / "a.mp4", Accepted())
    finally:
        await client.aclose()
    assert raised.value.surely_not_billed
