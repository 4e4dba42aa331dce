"""Prodia misbehaving under the real bot: each fault alone and several mixed. Retries stay bounded, nothing
leaks (tasks, files), and the requester gets a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import files
from bot.domain.models import JobState
from tests.e2e.conftest import World, finished, kept_files, until
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
            # Once Prodia created the job (whether or not its answer could be read) it counts as charged;
            # a job Prodia never started (a lasting 429) is refunded.
            settled = ("commit" if world.prodia.jobs else "refund", 0.4)
            assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), settled]
            await _status_says(world, token, message)
            assert not job_files(await kept_files(bot), 1)  # no half-written clip left behind
        # The job's task ends just after its last transition (its listeners run inside it); none may linger.
        await until(lambda: not bot.pipeline.scheduler.running_jobs, timeout=10, what="the job's task to end")
        assert bot.pipeline.scheduler.running_jobs == set()


def job_files(names: set[str], job_id: int) -> set[str]:
    """The files among `names` (stored, or under the working folder) that belong to the job, partial ones
    included."""
    return {name for name in names if files.job_of(Path(name).name) == job_id}


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
        assert not job_files(await kept_files(bot), 1)
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


# -- money Prodia charged on the sync route stays spent (review: sync failures) ----------------------------

SYNC_BILLED_FAULTS = [
    Fault("POST /job", "truncate"),  # the multipart answer is cut in the middle
    Fault("POST /job", "no_video"),  # a billed job whose answer carries no clip
    # ... and one whose job part says what it cost
    Fault("POST /job", "malformed", body={"id": "sync-1", "price": {"dollars": 0.55}}),
    Fault("POST /job", "drop", after_work=True),  # billed, then the connection breaks
    Fault("POST /job", "status", status=502, after_work=True),  # billed, then a gateway error
    # billed, then a 4xx without Prodia's job part (a gateway in between): not a clean refusal
    Fault("POST /job", "status", status=408, after_work=True),
    Fault("POST /job", "status", status=422, after_work=True),
]


SYNC_BILLED_IDS = ["truncated", "no-video", "priced-no-video", "dropped", "502", "408", "422"]


@pytest.mark.parametrize("fault", SYNC_BILLED_FAULTS, ids=SYNC_BILLED_IDS)
async def test_a_sync_job_prodia_billed_stays_charged_when_its_answer_fails(
    world: World, fault: Fault
) -> None:
    world.prodia.async_refused.add(TXT2VID)
    world.prodia.add_fault(fault)
    async with world.bot(**FAST) as bot:
        await world.video(prompt="a clip over the sync endpoint whose answer breaks")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        [billed] = [j.price for j in world.prodia.jobs.values()]
        assert billed is not None and billed > 0
        ledger = await bot.pipeline.store.ledger(1)
        assert ledger[0] == ("reserve", 0.4)
        assert ledger[-1][0] == "commit" and len(ledger) == 2, ledger  # Prodia billed: it stays spent
        # The price the answer's job part gave is kept, else the estimate.
        assert ledger[-1][1] == pytest.approx(0.55 if fault.kind == "malformed" else 0.4)
        assert len(world.prodia.requests_for("POST /job")) == 1  # never re-sent (and paid twice)


SYNC_REFUSALS = [
    Fault("POST /job", "status", status=401),
    Fault("POST /job", "status", status=403),
    Fault("POST /job", "status", status=429, retry_after="0", times=10),
]


@pytest.mark.parametrize("fault", SYNC_REFUSALS, ids=["401", "403", "lasting-429"])
async def test_a_sync_job_prodia_clearly_refused_is_refunded(world: World, fault: Fault) -> None:
    world.prodia.async_refused.add(TXT2VID)
    world.prodia.add_fault(fault)
    async with world.bot(**FAST) as bot:
        await world.video(prompt="a clip Prodia refuses on the sync endpoint")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        assert not [j for j in world.prodia.jobs.values() if j.price]
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_sync_validation_error_is_refunded(world: World) -> None:
    world.prodia.async_refused.add(TXT2VID)
    async with world.bot(**FAST) as bot:
        await world.video(prompt="a clip Prodia refuses: forbidden")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.error is not None and "rejected" in job.error
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_sync_job_in_flight_when_the_bot_stopped_stays_charged_after_recovery(world: World) -> None:
    world.prodia.async_refused.add(TXT2VID)
    world.prodia.stuck = True  # the sync request is at Prodia, unanswered, when the process goes
    async with world.bot(**FAST) as bot:
        await world.video(prompt="a clip whose sync request outlives the bot")
        await until(lambda: world.prodia.requests_for("POST /job"), what="the sync request sent")
        job = await bot.pipeline.store.get(1)
        assert job is not None and job.state is JobState.SUBMITTING
    world.prodia.stuck = False
    async with world.bot(**FAST) as bot:
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]
        assert len(world.prodia.requests_for("POST /job")) == 1  # not re-sent


async def test_a_job_recovered_before_it_was_sent_is_refunded(world: World) -> None:
    # A job claimed (submitting) by a worker that died before sending anything to Prodia.
    async with world.bot(**FAST) as bot:
        await bot.pipeline.scheduler.stop()
        await world.video(prompt="a clip whose worker died before sending it")
        await until(lambda: bot.pipeline.store.get(1), what="the job stored")
        async with bot.pipeline.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET state = 'submitting', started_at = 1, lease_owner = 'gone:1:dead',"
                " lease_expires_at = 0 WHERE id = 1"
            )
    async with world.bot(**FAST) as bot:
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("refund", 0.4)]
        assert not world.prodia.requests_for("POST /job") and not world.prodia.requests_for("POST /job/async")


async def test_a_sync_job_that_times_out_at_prodia_stays_charged(world: World) -> None:
    world.prodia.async_refused.add(TXT2VID)
    world.prodia.stuck = True  # Prodia runs it and never answers
    async with world.bot(job_timeout_seconds=1.5, **FAST) as bot:
        await world.video(prompt="a sync clip Prodia never finishes")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED and job.user_error is not None and "too long" in job.user_error
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]


async def test_an_async_job_whose_creation_answer_is_lost_stays_charged(world: World) -> None:
    world.prodia.add_fault(Fault("POST /job/async", "drop", after_work=True))  # created, then the line drops
    async with world.bot(**FAST) as bot:
        await world.video(prompt="an async clip whose id never arrives")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        assert len(world.prodia.jobs) == 1 and len(world.prodia.requests_for("POST /job/async")) == 1
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]


@pytest.mark.parametrize(
    "then",
    [
        Fault("POST /job/async", "status", status=429, retry_after="0", times=10),
        Fault("POST /job/async", "status", status=401),
    ],
    ids=["then-lasting-429", "then-401"],
)
async def test_a_create_prodia_may_have_billed_stays_charged_whatever_its_retries_meet(
    world: World, then: Fault
) -> None:
    # Prodia made the job but a gateway answered 502; the retries then meet clean refusals. The job an
    # earlier attempt may have started still counts.
    world.prodia.add_fault(Fault("POST /job/async", "status", status=502, after_work=True))
    world.prodia.add_fault(then)
    async with world.bot(**FAST) as bot:
        await world.video(prompt="an async clip whose creation answer is a 502")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        assert world.prodia.jobs  # Prodia has it
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("commit", 0.4)]


async def test_a_refused_connection_to_prodia_is_refunded(world: World) -> None:
    async with world.bot(prodia_base_url="http://127.0.0.1:9/v2", **FAST) as bot:
        await world.video(prompt="a clip for a Prodia nobody listens for")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("refund", 0.4)]
