"""Prodia misbehaving under the real bot: each fault alone and several mixed. Retries stay bounded, nothing
leaks (tasks, files), and the requester gets a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.models import JobState
from tests.e2e.conftest import World, finished, until
from tests.fakes.prodia import TXT2VID, Fault

# Short enough to keep the hang cases quick, loose enough for a loaded CI machine.
FAST = {"prodia_max_attempts": 4, "prodia_retry_after_max_seconds": 0.2, "prodia_read_timeout_seconds": 2.0}

CASES: list[tuple[str, list[Fault], str | None]] = [
    (
        "429 with Retry-After",
        [Fault("POST /job/async", "status", status=429, retry_after="0", times=2)],
        None,
    ),
    ("429 without Retry-After", [Fault("POST /job/async", "status", status=429, times=2)], None),
    ("500 on create", [Fault("POST /job/async", "status", status=500)], None),
    ("502 on a poll", [Fault("GET state", "status", status=502, times=2)], None),
    ("503 on download", [Fault("GET file", "status", status=503)], None),
    ("a hang on a poll", [Fault("GET state", "hang")], None),
    ("a reset connection on download", [Fault("GET file", "drop")], None),
    ("a truncated download", [Fault("GET file", "truncate")], None),
    (
        "lasting 429",
        [Fault("POST /job/async", "status", status=429, retry_after="0", times=10)],
        "at capacity",
    ),
    ("malformed job JSON", [Fault("POST /job/async", "malformed")], "could not read"),
    ("no video in the output", [Fault("GET output", "no_video")], "could not read"),
    ("an unknown async id", [Fault("GET state", "not_found")], "no longer has this job"),
    ("a bad token mid-run", [Fault("GET state", "bad_token")], "token was refused"),
    (
        "mixed: 429, 500, hang, reset, then fine",
        [
            Fault("POST /job/async", "status", status=429, retry_after="0"),
            Fault("POST /job/async", "status", status=500),
            Fault("GET state", "hang"),
            Fault("GET job.json", "status", status=502),
            Fault("GET file", "drop"),
        ],
        None,
    ),
]


@pytest.mark.parametrize(("faults", "message"), [(f, m) for _, f, m in CASES], ids=[c[0] for c in CASES])
async def test_prodia_faults_end_delivered_or_failed_with_a_clear_message(
    world: World, faults: list[Fault], message: str | None
) -> None:
    for fault in faults:
        world.prodia.add_fault(fault)
    async with world.bot(**FAST) as bot:
        token = await world.video(prompt="a clip through a flaky provider")
        job = await finished(bot, 1)
        if message is None:
            assert job.state is JobState.DELIVERED, job.error
            assert len(world.clips()) == 1
        else:
            assert job.state is JobState.FAILED
            assert job.user_error is not None and message in job.user_error
            # Once Prodia accepted the job (it has Prodia's id) it counts as charged; before, it is refunded.
            settled = ("commit" if job.prodia_job_id is not None else "refund", 0.4)
            assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), settled]
            await _status_says(world, token, message)
            assert not list((world.tmp / "clips").glob("1.*"))  # no half-written clip left behind
        # The job's task ends just after its last transition (its listeners run inside it); none may linger.
        await until(lambda: not bot.pipeline.scheduler.running_jobs, timeout=10, what="the job's task to end")
        assert bot.pipeline.scheduler.running_jobs == set()


async def _status_says(world: World, token: str, text: str) -> None:
    def shown() -> bool:
        embeds: list[dict[str, Any]] = world.answer(token).get("embeds") or []
        return bool(embeds) and any(text in str(f["value"]) for f in embeds[0].get("fields", []))

    await until(shown, what="the failure in the status message")


async def test_a_job_stuck_at_prodia_forever_times_out_and_stays_charged(world: World) -> None:
    world.prodia.stuck = True
    async with world.bot(job_timeout_seconds=1.5, **FAST) as bot:
        token = await world.video(prompt="a clip that never finishes")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.user_error is not None and "too long" in job.user_error
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]  # Prodia ran it
        await _status_says(world, token, "too long")


async def test_sync_only_job_types_work_under_the_bot(world: World) -> None:
    world.prodia.async_refused.add(TXT2VID)
    async with world.bot() as bot:
        await world.video(prompt="a clip over the sync endpoint")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED and job.endpoint == "sync"


GONE = "The result is gone"


@pytest.mark.parametrize("route", ["GET job.json", "GET output", "GET file"])
async def test_a_result_that_expired_after_the_job_finished_is_reported_gone_and_paid(
    world: World, route: str
) -> None:
    world.prodia.add_fault(Fault(route, "not_found", times=50))
    async with world.bot(**FAST) as bot:
        token = await world.video(prompt="a clip whose result expires")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.user_error is not None
        assert GONE in job.user_error and "paid" in job.user_error
        assert job.prodia_job_id is not None and world.prodia.jobs[job.prodia_job_id].price == 0.4  # billed
        await _status_says(world, token, GONE)
        assert not list((world.tmp / "clips").glob("1.*"))
        assert world.clips() == []


async def test_a_job_resumed_after_its_result_expired_is_reported_gone_not_resent(world: World) -> None:
    world.prodia.processing_seconds = 60.0  # still running when the bot goes away
    async with world.bot(**FAST) as bot:
        token = await world.video(prompt="a clip that outlives the bot's outage")

        async def submitted() -> bool:
            job = await bot.pipeline.store.get(1)
            return job is not None and job.state is JobState.RUNNING and job.prodia_job_id is not None

        await until(submitted, what="the job to be running at Prodia")
    # The outage: the job finishes and Prodia forgets its result before the bot is back.
    [prodia_job] = world.prodia.jobs.values()
    world.prodia.processing_seconds = 0.0
    await until(lambda: prodia_job.state == "processed", what="the job to finish at Prodia")
    world.prodia.expire(prodia_job.id)
    async with world.bot(**FAST) as bot:
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.user_error is not None and GONE in job.user_error
        await _status_says(world, token, GONE)
    assert len(world.prodia.requests_for("POST /job/async")) == 1  # never sent (and paid for) twice


@pytest.mark.parametrize("style", ["objects", "text", "quoted", "comma"])
async def test_an_output_list_in_any_spelling_is_delivered(world: World, style: str) -> None:
    world.prodia.output_list_style = style  # type: ignore[assignment]
    async with world.bot(**FAST) as bot:
        await world.video(prompt="a clip listed as plain text")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        await until(world.clips, what="the clip")


async def test_an_async_refusal_that_reads_like_a_config_error_falls_back_to_sync(world: World) -> None:
    world.prodia.async_refused.add(TXT2VID)
    world.prodia.async_refusal_text = "validation failed at '/config': async is not available for this type"
    async with world.bot(**FAST) as bot:
        await world.video(prompt="a clip over the sync endpoint")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED and job.endpoint == "sync", job.error
