"""The Metrics class: its own registry, and what each call counts."""

from __future__ import annotations

import dataclasses

from bot.domain.models import Job, JobRequest, JobState
from bot.errors import InvalidRequest
from bot.services.metrics import Metrics


def a_job(state: JobState, *, actual_cost: float | None = None, finished_at: float | None = None) -> Job:
    return Job(
        id=1,
        state=state,
        request=JobRequest(prompt="a fine prompt"),
        guild_id=1,
        channel_id=2,
        user_id=3,
        message_id=None,
        result_message_id=None,
        target={"kind": "discord"},
        prodia_job_id="p1",
        endpoint="async",
        output_path=None,
        estimated_cost=0.4,
        actual_cost=actual_cost,
        error=None,
        user_error=None,
        attempts=1,
        created_at=100.0,
        updated_at=100.0,
        started_at=101.0,
        finished_at=finished_at,
        lease_owner=None,
        lease_expires_at=None,
    )


async def test_each_call_moves_its_own_numbers_in_its_own_registry() -> None:
    metrics, other = Metrics(), Metrics()
    get = metrics.registry.get_sample_value
    queued = a_job(JobState.QUEUED)
    metrics.job_accepted(queued)
    assert get("sora_jobs_accepted_total") == 1
    assert get("sora_dollars_estimated_total") == 0.4

    await metrics.on_transition(dataclasses.replace(queued, state=JobState.SUBMITTING), JobState.QUEUED)
    assert get("sora_jobs_finished_total", {"state": "delivered", "job_type": "sora-2.txt2vid.v1"}) is None

    delivered = a_job(JobState.DELIVERED, actual_cost=0.5, finished_at=160.0)
    await metrics.on_transition(delivered, JobState.DELIVERING)
    job_type = delivered.request.job_type.value
    assert get("sora_jobs_finished_total", {"state": "delivered", "job_type": job_type}) == 1
    assert get("sora_dollars_charged_total") == 0.5
    assert get("sora_job_delivery_seconds_count") == 1
    assert get("sora_job_delivery_seconds_sum") == 60.0

    # Failed before reaching Prodia: refunded, nothing charged, no delivery time.
    never_sent = dataclasses.replace(a_job(JobState.FAILED, finished_at=110.0), prodia_job_id=None)
    await metrics.on_transition(never_sent, JobState.QUEUED)
    assert get("sora_jobs_finished_total", {"state": "failed", "job_type": job_type}) == 1
    assert get("sora_dollars_charged_total") == 0.5
    assert get("sora_job_delivery_seconds_count") == 1

    metrics.request_refused(InvalidRequest("no"))
    assert get("sora_jobs_refused_total", {"reason": "InvalidRequest"}) == 1

    metrics.prodia_request("POST", 0.2, 201)
    metrics.prodia_request("GET", 0.1, 503)
    metrics.prodia_request("GET", 5.0, None)
    assert get("sora_prodia_request_seconds_count", {"method": "GET"}) == 2
    assert get("sora_prodia_errors_total", {"status": "503"}) == 1
    assert get("sora_prodia_errors_total", {"status": "transport"}) == 1
    assert get("sora_prodia_errors_total", {"status": "201"}) is None

    metrics.reencoded()
    assert get("sora_reencodes_total") == 1

    metrics.discord_answer(204)
    metrics.discord_answer(404)
    metrics.discord_answer(524)  # Cloudflare's timeout: counted by its class
    assert get("sora_discord_errors_total", {"status": "404"}) == 1
    assert get("sora_discord_errors_total", {"status": "5xx"}) == 1
    assert get("sora_discord_errors_total", {"status": "204"}) is None
    metrics.uploaded(1000)
    metrics.uploaded(24)
    assert get("sora_discord_upload_bytes_total") == 1024
    metrics.interaction_answered(0.4)
    metrics.interaction_answered(-0.2)  # this host's clock behind Discord's
    assert get("sora_interaction_answer_seconds_count") == 2
    assert get("sora_interaction_answer_seconds_sum") == 0.4
    assert b"sora_reencodes_total 1.0" in metrics.exposition()
    # The other bot's registry saw none of it.
    assert other.registry.get_sample_value("sora_jobs_accepted_total") == 0
