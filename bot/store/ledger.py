"""The usage ledger: how an ending job settles its reservation, the ledger rows, and quota checks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.limits import Limits, Usage, check_budget, check_limits
from bot.domain.models import Job, JobState
from bot.store.db import Conn
from bot.store.job_table import JobTable
from bot.store.usage import spend_today, usage_of

# States a job reaches only after Prodia accepted it: from then on Prodia may bill it.
_CHARGED_FROM = frozenset({JobState.RUNNING, JobState.DELIVERING})
# Endpoints whose requests Prodia bills (the local renderer is free).
_BILLABLE_ENDPOINTS = frozenset({"sync", "async"})


@dataclass(frozen=True, slots=True)
class Settlement:
    """How an ending job settles its reservation: the dollars, and whether the member's quota comes back."""

    kind: str  # 'commit': the dollars count against the server's budget; 'refund': nothing was spent
    dollars: float
    quota_returned: bool


def charged_at_prodia(job: Job, previous: JobState) -> bool:
    """Whether Prodia may have billed the job, counted conservatively: it was accepted there (it reached
    `running`, or has Prodia's id or price), it was cancelled mid-submission, racing Prodia's answer, or it
    ended mid-submission after a request that may bill was sent (`endpoint` set by `mark_sent`; a failure
    that surely billed nothing clears it)."""
    return (
        previous in _CHARGED_FROM
        or job.prodia_job_id is not None
        or job.actual_cost is not None
        or (job.state is JobState.CANCELLED and previous is JobState.SUBMITTING)
        or (previous is JobState.SUBMITTING and job.endpoint in _BILLABLE_ENDPOINTS)
    )


def settlement(job: Job, previous: JobState) -> Settlement:
    """Money follows Prodia: what it charged (its price, else the estimate) stays spent, whatever happens
    next. Quota follows the member: kept for a delivered clip or their own cancel after submission, given
    back when the bot or the provider failed the job, or nothing ran (README, "Refunds")."""
    if job.state is JobState.DELIVERED or charged_at_prodia(job, previous):
        cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
        return Settlement("commit", cost, quota_returned=job.state is JobState.FAILED)
    return Settlement("refund", job.estimated_cost, quota_returned=True)


async def write_ledger(
    conn: Conn, job: Job, kind: str, dollars: float, now: float, *, quota_returned: bool = False
) -> None:
    await conn.execute(
        """INSERT INTO usage_ledger (job_id, guild_id, user_id, kind, video_seconds, dollars, created_at,
                                     quota_returned)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (job.id, job.guild_id, job.user_id, kind, job.request.duration, dollars, now, int(quota_returned)),
    )


class Ledger(JobTable):
    """Reading a member's usage and a job's ledger rows; checking a quota before any work is done."""

    async def usage(self, guild_id: int | None, user_id: int) -> Usage:
        """A user's current usage (for /usage)."""
        return await usage_of(self.db.reader, guild_id, user_id, self._clock())

    async def check_quota(
        self,
        guild_id: int | None,
        user_id: int,
        limits: Limits,
        video_seconds: int,
        *,
        budget_per_day: float | None,
        cost: float,
    ) -> None:
        """`create`'s quota and budget checks, read-only: raise QuotaExceeded before any work is done for a
        request `create` would refuse. `create` checks again, atomically, when it reserves."""
        now = self._clock()
        check_limits(await usage_of(self.db.reader, guild_id, user_id, now), limits, video_seconds)
        if budget_per_day is not None and guild_id is not None:
            check_budget(await spend_today(self.db.reader, guild_id, now), budget_per_day, cost, now)

    async def story_charges(self, story_id: int) -> dict[int, float]:
        """What each settled job of the story's own (every attempt of each shot) cost, by the ledger: its
        commit, or nothing when refunded; jobs still under way are left out."""
        rows = await self.db.reader.fetch_all(
            """SELECT usage_ledger.job_id, usage_ledger.kind, usage_ledger.dollars FROM usage_ledger
                 JOIN jobs ON jobs.id = usage_ledger.job_id
                WHERE jobs.story_id = ? AND usage_ledger.kind IN ('commit', 'refund')""",
            (story_id,),
        )
        return {int(row[0]): float(row[2]) if row[1] == "commit" else 0.0 for row in rows}

    async def ledger(self, job_id: int) -> list[tuple[str, float]]:
        """The job's ledger rows as (kind, dollars), oldest first."""
        return [
            (row["kind"], row["dollars"])
            for row in await self.db.reader.fetch_all(
                "SELECT kind, dollars FROM usage_ledger WHERE job_id = ? ORDER BY id",
                (job_id,),
            )
        ]
