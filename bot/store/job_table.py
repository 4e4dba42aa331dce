"""What every repository of the jobs table shares: the database, the clock, and turning a row into a Job."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.domain.models import Job, JobRequest, JobState, Target
from bot.store.db import Conn, Database, Row


@dataclass(frozen=True, slots=True)
class NewJob:
    """What the caller knows when a job is accepted."""

    request: JobRequest
    user_id: int
    estimated_cost: float
    target_kind: str
    target: Target
    guild_id: int | None = None
    channel_id: int | None = None
    state: JobState = JobState.QUEUED


class JobTable:
    """The base of the jobs table's repositories (JobStore is composed of them)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock


def row_to_job(row: Row) -> Job:
    return Job(
        id=row["id"],
        state=JobState(row["state"]),
        request=JobRequest.model_validate_json(row["request"]),
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        message_id=row["message_id"],
        result_message_id=row["result_message_id"],
        target=json.loads(row["target"]),
        prodia_job_id=row["prodia_job_id"],
        endpoint=row["endpoint"],
        output_path=row["output_path"],
        estimated_cost=row["estimated_cost"],
        actual_cost=row["actual_cost"],
        error=row["error"],
        user_error=row["user_error"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        approved_by=row["approved_by"],
        approval_message_id=row["approval_message_id"],
        story_id=row["story_id"],
        shot_index=row["shot_index"],
    )


def states_in(states: Iterable[JobState]) -> str:
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"


async def insert_job(
    conn: Conn, new: NewJob, now: float, *, story_id: int | None = None, shot_index: int | None = None
) -> Job:
    """Insert an accepted job's row (its reservation is the caller's, in the same transaction)."""
    request = new.request
    row = await conn.fetch_one(
        """INSERT INTO jobs (state, request, job_type, guild_id, channel_id, user_id, target_kind, target,
                             video_seconds, estimated_cost, created_at, updated_at, story_id, shot_index)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
        (
            new.state.value,
            request.model_dump_json(),
            request.job_type.value,
            new.guild_id,
            new.channel_id,
            new.user_id,
            new.target_kind,
            json.dumps(new.target),
            request.duration,
            new.estimated_cost,
            now,
            now,
            story_id,
            shot_index,
        ),
    )
    assert row is not None
    return row_to_job(row)
