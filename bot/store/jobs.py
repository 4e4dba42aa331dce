"""The jobs repository: creating jobs, the one place their state changes, fair claims.

`JobStore` is the one object the bot uses; each other concern of the jobs table is a base class in its own
module: queries (job_queries), leases, delivery records (deliveries), retention, the usage ledger (ledger).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from bot.domain.limits import Limits, check_budget, check_limits
from bot.domain.models import IN_FLIGHT, LEASED, TERMINAL, TRANSITIONS, Job, JobRequest, JobState
from bot.store.db import Database
from bot.store.deliveries import Deliveries
from bot.store.job_queries import JobQueries
from bot.store.job_table import NewJob, insert_job, row_to_job, states_in
from bot.store.leases import Leases
from bot.store.ledger import Ledger, settlement, write_ledger
from bot.store.retention import RetentionQueries
from bot.store.stories import Stories, story_runs
from bot.store.usage import spend_today, usage_of

log = logging.getLogger("bot.jobs")
__all__ = ["JobStore", "NewJob", "TransitionListener"]

TransitionListener = Callable[[Job, JobState], Awaitable[None]]

# Columns a transition may set besides the state; anything else is a programming error.
_SETTABLE = frozenset(
    {
        "prodia_job_id",
        "endpoint",
        "output_path",
        "actual_cost",
        "error",
        "user_error",
        "result_message_id",
        "approved_by",
        "request",  # a story's shot gets its start picture when it leaves `waiting`
    }
)


class JobStore(JobQueries, Leases, Deliveries, RetentionQueries, Ledger, Stories):
    """The jobs repository the rest of the bot uses: creating jobs, the one place their state changes, fair
    claims; the other table concerns come from its bases (one module each)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(db, clock=clock)
        self.listeners: list[TransitionListener] = []

    async def create(
        self, new: NewJob, limits: Limits | None = None, budget_per_day: float | None = None
    ) -> Job:
        """Store an accepted job and reserve its usage, atomically; with `limits` and a server budget, only
        if they allow it.

        The checks and the reservation share one write transaction, so no burst of concurrent requests
        can cross a limit or the budget. Raises QuotaExceeded (and stores nothing) when one would be crossed.
        """
        now = self._clock()
        request = new.request
        async with self.db.transaction() as conn:
            # Other processes' requests from this server wait here until this one is stored (PostgreSQL).
            await conn.lock("quota", new.guild_id if new.guild_id is not None else ("user", new.user_id))
            if limits is not None:
                check_limits(await usage_of(conn, new.guild_id, new.user_id, now), limits, request.duration)
            if budget_per_day is not None and new.guild_id is not None:
                check_budget(
                    await spend_today(conn, new.guild_id, now), budget_per_day, new.estimated_cost, now
                )
            job = await insert_job(conn, new, now)
            await write_ledger(conn, job, "reserve", job.estimated_cost, now)
        log.info(
            "job %d created %s (%s, %ds, est $%.2f, user %d)",
            job.id,
            job.state.value,
            request.job_type.value,
            request.duration,
            job.estimated_cost,
            job.user_id,
        )
        return job

    async def get(self, job_id: int) -> Job | None:
        row = await self.db.reader.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return row_to_job(row) if row else None

    async def transition(
        self,
        job_id: int,
        to: JobState,
        *,
        expect: Collection[JobState] | None = None,
        owner: str | None = None,
        story_running: int | None = None,
        **fields: Any,
    ) -> Job | None:
        """Move a job to `to` if it is in one of `expect` (default: every state allowed to reach `to`), and,
        with `story_running`, only while that story runs (its row locked meanwhile: a claim to end it waits).

        The single place a job's state changes: it settles the ledger when the job ends, clears the lease,
        writes one log line with timings and tells the listeners. Returns None when the job was not in an
        expected state (or not held by `owner`), so racing callers can't both win.
        """
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"transition can't set {sorted(unknown)}")
        allowed = (
            set(expect) if expect is not None else {s for s, targets in TRANSITIONS.items() if to in targets}
        )
        now = self._clock()
        if "request" in fields:
            request: JobRequest = fields.pop("request")
            fields["request"] = request.model_dump_json()
            fields["job_type"] = request.job_type.value
        assignments = ["state = ?", "updated_at = ?"] + [f"{name} = ?" for name in fields]
        params: list[Any] = [to.value, now, *fields.values()]
        if to in TERMINAL:
            assignments += ["finished_at = ?", "lease_owner = NULL", "lease_expires_at = NULL"]
            params.append(now)
        elif to not in LEASED:
            assignments += ["lease_owner = NULL", "lease_expires_at = NULL"]
        where = f"id = ? AND state IN {states_in(allowed)}"
        params.append(job_id)
        if owner is not None:
            where += " AND lease_owner = ?"
            params.append(owner)
        async with self.db.transaction() as conn:
            # The row stays locked to the end (PostgreSQL), so `before` is the state this update replaces.
            before = await conn.fetch_one(
                f"SELECT state, updated_at FROM jobs WHERE id = ?{conn.for_update}",  # noqa: S608
                (job_id,),
            )
            if before is None:
                return None
            if story_running is not None and not await story_runs(conn, story_running):
                return None
            row = await conn.fetch_one(
                f"UPDATE jobs SET {', '.join(assignments)} WHERE {where} RETURNING *",  # noqa: S608
                params,
            )
            if row is None:
                return None
            job = row_to_job(row)
            previous = JobState(before["state"])
            if to in TERMINAL:
                settled = settlement(job, previous)
                await write_ledger(
                    conn, job, settled.kind, settled.dollars, now, quota_returned=settled.quota_returned
                )
        await self._announce(job, previous, now - before["updated_at"])
        return job

    async def _announce(self, job: Job, previous: JobState, in_previous: float) -> None:
        """One log line per state change, with timings; then the listeners (their failures only logged)."""
        log.info(
            "job %d %s -> %s (%.1fs in %s, %.1fs since created, attempt %d)%s",
            job.id,
            previous.value,
            job.state.value,
            in_previous,
            previous.value,
            job.updated_at - job.created_at,
            job.attempts,
            f": {job.error}" if job.state is JobState.FAILED and job.error else "",
            # Fields of their own under LOG_FORMAT=json (the text line above is unchanged).
            extra={
                "job_id": job.id,
                "guild_id": job.guild_id,
                "state": job.state.value,
                "previous": previous.value,
                "seconds_in_previous": round(in_previous, 3),
                "seconds_since_created": round(job.updated_at - job.created_at, 3),
            },
        )
        for listener in list(self.listeners):
            try:
                await listener(job, previous)
            except Exception:
                log.exception("job %d: a transition listener failed", job.id)

    async def claim_next(
        self, *, owner: str, lease_seconds: float, max_in_flight: int, target_kinds: Collection[str]
    ) -> Job | None:
        """Atomically move the fairest queued job to `submitting`, if under `max_in_flight` are at Prodia.

        Fairness, round-robin at two levels: the server served least recently (never served first), then in
        it the user served least recently. A user with many queued jobs delays another user's first job by at
        most one slot of their server's turns, and a big server can't crowd out a small one.
        """
        kinds = ", ".join("?" for _ in target_kinds) or "NULL"
        async with self.db.transaction() as conn:
            # One claim at a time across processes, so the in-flight count below can't be raced past;
            # SKIP LOCKED passes over a queued job another transaction is changing (a cancel).
            await conn.lock("claim")
            # Read the clock holding the lock: start times then follow the order claims commit in, which
            # the next claim's "least recently served" ordering relies on.
            now = self._clock()
            row = await conn.fetch_one(
                f"""
                UPDATE jobs
                   SET state = 'submitting', attempts = attempts + 1, started_at = ?, updated_at = ?,
                       lease_owner = ?, lease_expires_at = ?
                 WHERE id = (
                       SELECT j.id FROM jobs AS j
                        WHERE j.state = 'queued' AND j.target_kind IN ({kinds})
                        ORDER BY (SELECT MAX(g.started_at) FROM jobs AS g
                                   WHERE COALESCE(g.guild_id, 0) = COALESCE(j.guild_id, 0)) IS NOT NULL,
                                 (SELECT MAX(g.started_at) FROM jobs AS g
                                   WHERE COALESCE(g.guild_id, 0) = COALESCE(j.guild_id, 0)),
                                 (SELECT MAX(s.started_at) FROM jobs AS s
                                   WHERE s.user_id = j.user_id
                                     AND COALESCE(s.guild_id, 0) = COALESCE(j.guild_id, 0)) IS NOT NULL,
                                 (SELECT MAX(s.started_at) FROM jobs AS s
                                   WHERE s.user_id = j.user_id
                                     AND COALESCE(s.guild_id, 0) = COALESCE(j.guild_id, 0)),
                                 j.id
                        LIMIT 1{conn.skip_locked})
                   AND state = 'queued'
                   AND (SELECT COUNT(*) FROM jobs WHERE state IN {states_in(IN_FLIGHT)}) < ?
                RETURNING *""",  # noqa: S608
                (now, now, owner, now + lease_seconds, *target_kinds, max_in_flight),
            )
            if row is None:
                return None
            job = row_to_job(row)
        await self._announce(job, JobState.QUEUED, now - job.created_at)
        return job

    async def mark_sent(self, job_id: int, endpoint: str, *, owner: str) -> bool:
        """Note, before it goes, that a request that may bill is being sent for this job being submitted (its
        `endpoint` is set early): from now on the job counts as possibly paid (see `charged_at_prodia`).
        False when the job is no longer submitting under `owner` (cancelled, taken over): send nothing."""
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                "UPDATE jobs SET endpoint = ? WHERE id = ? AND state = 'submitting'"
                " AND lease_owner = ? RETURNING id",
                (endpoint, job_id, owner),
            )
        return row is not None

    async def mark_received(
        self, job_id: int, output_path: str, *, owner: str, actual_cost: float | None = None
    ) -> bool:
        """Note that the running job's clip came back from Prodia whole but is not stored yet (the store
        failed): it is paid for, so a resume fetches it again by its id without the job's timeout, and the
        price Prodia reported is kept (a cancel meanwhile settles what Prodia charged, not the estimate)."""
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                "UPDATE jobs SET output_path = ?, actual_cost = COALESCE(?, actual_cost)"
                " WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING id",
                (output_path, actual_cost, job_id, owner),
            )
        return row is not None

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        """Remember the message that shows a job's progress."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET message_id = ? WHERE id = ?", (message_id, job_id))

    async def set_approval_message(self, job_id: int, message_id: int) -> None:
        """Remember the moderators' message that shows the job for approval."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET approval_message_id = ? WHERE id = ?", (message_id, job_id))
