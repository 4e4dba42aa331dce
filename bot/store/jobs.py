"""The jobs repository: creating jobs, the one place their state changes, fair claims and leases."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from bot.domain.limits import Limits, Usage, check_budget, check_limits
from bot.domain.models import IN_FLIGHT, LEASED, TERMINAL, TRANSITIONS, Job, JobRequest, JobState, JobType
from bot.store.database import Conn, Database, Row
from bot.store.usage import spend_today, usage_of

log = logging.getLogger("bot.jobs")

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
    }
)


@dataclass(frozen=True, slots=True)
class NewJob:
    """What the caller knows when a job is accepted."""

    request: JobRequest
    user_id: int
    estimated_cost: float
    target_kind: str
    target: dict[str, Any]
    guild_id: int | None = None
    channel_id: int | None = None
    state: JobState = JobState.QUEUED


def _row_to_job(row: Row) -> Job:
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
    )


def _in(states: Iterable[JobState]) -> str:
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"


class JobStore:
    """Repository functions for jobs and their usage ledger rows."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
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
            row = await conn.fetch_one(
                """INSERT INTO jobs (state, request, job_type, guild_id, channel_id, user_id, target_kind,
                                     target, video_seconds, estimated_cost, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
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
                ),
            )
            assert row is not None
            job = _row_to_job(row)
            await _ledger(conn, job, "reserve", job.estimated_cost, now)
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
        return _row_to_job(row) if row else None

    async def transition(
        self,
        job_id: int,
        to: JobState,
        *,
        expect: Collection[JobState] | None = None,
        owner: str | None = None,
        **fields: Any,
    ) -> Job | None:
        """Move a job to `to` if it is in one of `expect` (default: every state allowed to reach `to`).

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
        assignments = ["state = ?", "updated_at = ?"] + [f"{name} = ?" for name in fields]
        params: list[Any] = [to.value, now, *fields.values()]
        if to in TERMINAL:
            assignments += ["finished_at = ?", "lease_owner = NULL", "lease_expires_at = NULL"]
            params.append(now)
        elif to not in LEASED:
            assignments += ["lease_owner = NULL", "lease_expires_at = NULL"]
        where = f"id = ? AND state IN {_in(allowed)}"
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
            row = await conn.fetch_one(
                f"UPDATE jobs SET {', '.join(assignments)} WHERE {where} RETURNING *",  # noqa: S608
                params,
            )
            if row is None:
                return None
            job = _row_to_job(row)
            previous = JobState(before["state"])
            if to in TERMINAL:
                settled = _settlement(job, previous)
                await _ledger(
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
                   AND (SELECT COUNT(*) FROM jobs WHERE state IN {_in(IN_FLIGHT)}) < ?
                RETURNING *""",  # noqa: S608
                (now, now, owner, now + lease_seconds, *target_kinds, max_in_flight),
            )
            if row is None:
                return None
            job = _row_to_job(row)
        await self._announce(job, JobState.QUEUED, now - job.created_at)
        return job

    async def set_approval_message(self, job_id: int, message_id: int) -> None:
        """Remember the moderators' message that shows the job for approval."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET approval_message_id = ? WHERE id = ?", (message_id, job_id))

    async def expired_approvals(self, older_than: float) -> list[Job]:
        """Jobs that waited for approval since before `older_than`."""
        return [
            _row_to_job(row)
            for row in await self.db.reader.fetch_all(
                "SELECT * FROM jobs WHERE state = 'awaiting_approval' AND created_at < ? ORDER BY id",
                (older_than,),
            )
        ]

    async def old_outputs(self, finished_before: float) -> list[tuple[int, str]]:
        """Finished jobs whose clip is still on disk, finished before the given time: (id, output path)."""
        return [
            (int(row[0]), str(row[1]))
            for row in await self.db.reader.fetch_all(
                f"""SELECT id, output_path FROM jobs WHERE state IN {_in(TERMINAL)}
                AND output_path IS NOT NULL AND finished_at < ? ORDER BY id""",  # noqa: S608
                (finished_before,),
            )
        ]

    async def clear_output(self, job_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET output_path = NULL WHERE id = ?", (job_id,))

    async def jobs_keeping_files(self, finished_before: float) -> set[int]:
        """Jobs whose files stay: not finished yet, or finished at or after the given time."""
        return {
            int(row[0])
            for row in await self.db.reader.fetch_all(
                f"SELECT id FROM jobs WHERE state NOT IN {_in(TERMINAL)} OR finished_at >= ?",  # noqa: S608
                (finished_before,),
            )
        }

    async def existing_jobs(self, job_ids: Collection[int]) -> set[int]:
        """Which of these job ids are stored."""
        found: set[int] = set()
        ids = sorted(job_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.db.reader.fetch_all(
                f"SELECT id FROM jobs WHERE id IN ({', '.join('?' for _ in chunk)})",  # noqa: S608
                chunk,
            )
            found.update(int(row[0]) for row in rows)
        return found

    async def image_references(self, created_since: float, finished_before: float) -> list[tuple[str, bool]]:
        """(image path, still used) for each image job created since `created_since`: a job uses its image
        until it ends, and a delivered one (its buttons re-use it) until `finished_before`."""
        image_types = [t.value for t in JobType if t.image_to_video]
        rows = await self.db.reader.fetch_all(
            f"""SELECT request, state, finished_at FROM jobs
                 WHERE job_type IN ({", ".join("?" for _ in image_types)}) AND created_at >= ?""",  # noqa: S608
            (*image_types, created_since),
        )
        found: list[tuple[str, bool]] = []
        for request_text, state, finished_at in rows:
            image_path = json.loads(request_text).get("image_path")
            if image_path:
                used = JobState(state) not in TERMINAL or (
                    state == JobState.DELIVERED.value and finished_at >= finished_before
                )
                found.append((str(image_path), used))
        return found

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        """Remember the message that shows a job's progress."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET message_id = ? WHERE id = ?", (message_id, job_id))

    async def queue_position(self, job: Job) -> int:
        """Roughly how many jobs start before this one under the two-level round-robin (1 = next): its turn
        among its server's jobs, then as many turns of each other server, up to what each has queued."""
        row = await self.db.reader.fetch_one(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND user_id = ?"
            " AND COALESCE(guild_id, 0) = ? AND id <= ?",
            (job.user_id, job.guild_id or 0, job.id),
        )
        rank = int(row[0]) if row else 1
        server = job.guild_id or 0
        in_server, other_servers = rank, dict[int, int]()
        for guild, user, count in await self.db.reader.fetch_all(
            "SELECT COALESCE(guild_id, 0), user_id, COUNT(*) FROM jobs WHERE state = 'queued'"
            " GROUP BY COALESCE(guild_id, 0), user_id"
        ):
            if guild != server:
                other_servers[guild] = other_servers.get(guild, 0) + int(count)
            elif user != job.user_id:
                in_server += min(int(count), rank)  # each other member gets as many turns as this one
        return in_server + sum(min(queued, in_server) for queued in other_servers.values())

    async def renew_leases(self, owner: str, lease_seconds: float) -> set[int]:
        """Extend every lease `owner` holds; returns the ids of the jobs it still holds."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch_all(
                f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND state IN {_in(LEASED)}"  # noqa: S608
                " RETURNING id",
                (self._clock() + lease_seconds, owner),
            )
        return {int(row[0]) for row in rows}

    async def release_leases(self, owner: str) -> None:
        """Let others take over `owner`'s jobs at once (a clean shutdown)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE jobs SET lease_expires_at = 0 WHERE lease_owner = ? AND state IN {_in(LEASED)}",  # noqa: S608
                (owner,),
            )

    async def leased_jobs(self, target_kinds: Collection[str]) -> list[Job]:
        """Jobs held by a worker (this one too), alive or not; the caller decides which leases are dead."""
        kinds = ", ".join("?" for _ in target_kinds) or "NULL"
        return [
            _row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs WHERE state IN {_in(LEASED)} AND target_kind IN ({kinds}) ORDER BY id",  # noqa: S608
                tuple(target_kinds),
            )
        ]

    async def take_over(self, job: Job, *, owner: str, lease_seconds: float) -> Job | None:
        """Take a dead worker's job, unless someone else renewed or took it since `job` was read."""
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                """UPDATE jobs SET lease_owner = ?, lease_expires_at = ?
                    WHERE id = ? AND state = ? AND lease_owner IS NOT DISTINCT FROM ?
                      AND lease_expires_at IS NOT DISTINCT FROM ?
                RETURNING *""",
                (
                    owner,
                    self._clock() + lease_seconds,
                    job.id,
                    job.state.value,
                    job.lease_owner,
                    job.lease_expires_at,
                ),
            )
        if row is None:
            return None
        log.info("job %d: taken over from %s in state %s", job.id, job.lease_owner, job.state.value)
        return _row_to_job(row)

    async def list_jobs(
        self,
        *,
        states: Collection[JobState] | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Job]:
        clauses: list[str] = []
        params: list[object] = []
        if guild_id is not None:
            clauses.append("guild_id = ?")
            params.append(guild_id)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since)
        if states is not None:
            clauses.append(f"state IN {_in(states)}")
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [
            _row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
                (*params, limit),
            )
        ]

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

    async def ledger(self, job_id: int) -> list[tuple[str, float]]:
        """The job's ledger rows as (kind, dollars), oldest first."""
        return [
            (row["kind"], row["dollars"])
            for row in await self.db.reader.fetch_all(
                "SELECT kind, dollars FROM usage_ledger WHERE job_id = ? ORDER BY id",
                (job_id,),
            )
        ]

    async def count_queued(self, guild_id: int) -> int:
        """How many jobs wait in this server's queue (for /queue)."""
        row = await self.db.reader.fetch_one(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND guild_id = ?", (guild_id,)
        )
        return int(row[0]) if row else 0

    async def waiting_jobs(self, guild_id: int, user_id: int, *, limit: int) -> list[Job]:
        """A member's jobs in this server that have not ended yet, oldest first, at most `limit`."""
        return [
            _row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? AND state NOT IN {_in(TERMINAL)}"  # noqa: S608
                " ORDER BY id LIMIT ?",
                (guild_id, user_id, limit),
            )
        ]

    async def recent_jobs(
        self, guild_id: int, user_id: int, *, limit: int, offset: int = 0, include_private: bool
    ) -> list[Job]:
        """A member's latest jobs in this server, newest first; without `include_private`, only those the
        whole server could see."""
        # `target` is JSON text written by json.dumps, which puts exactly this between a key and `true`;
        # inside a JSON string a quote is escaped, so a value can't fake it. Text search works the same on
        # SQLite and PostgreSQL, where JSON functions differ.
        private = "" if include_private else " AND target NOT LIKE '%\"private\": true%'"
        return [
            _row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs WHERE guild_id = ? AND user_id = ?{private}"  # noqa: S608
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                (guild_id, user_id, limit, offset),
            )
        ]

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

    # -- delivery records (the result message, a delivery under way, a clip removed) ------------------------

    async def start_delivery(self, job_id: int) -> None:
        """Note that an upload is about to start, unless an earlier run already did."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET delivery_started_at = ? WHERE id = ? AND delivery_started_at IS NULL",
                (self._clock(), job_id),
            )

    async def set_result_message(self, job_id: int, message_id: int, channel_id: int | None) -> None:
        """Remember the message that carries the clip the moment Discord returns it; `channel_id` None for an
        ephemeral followup (no channel can read it back)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET result_message_id = ?, result_channel_id = ? WHERE id = ?",
                (message_id, channel_id, job_id),
            )

    async def delivery_record(self, job_id: int) -> DeliveryRecord:
        """What earlier runs of the job's delivery left behind."""
        row = await self.db.reader.fetch_one(
            "SELECT result_message_id, result_channel_id, delivery_started_at FROM jobs WHERE id = ?",
            (job_id,),
        )
        if row is None:
            return DeliveryRecord(None, None, None)
        return DeliveryRecord(row[0], row[1], row[2])

    async def mark_clip_removed(self, job_id: int, by: int) -> None:
        """The posted clip was deleted through its Delete button by `by` (its requester or a moderator): the
        first removal counts, except that a moderator's replaces the requester's (which the requester could
        undo by showing the clip again)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET clip_removed_by = ?, clip_removed_at = ?"
                " WHERE id = ? AND (clip_removed_by IS NULL OR clip_removed_by = user_id)",
                (by, self._clock(), job_id),
            )

    async def clip_removed_by(self, job_id: int) -> int | None:
        """Who removed the job's posted clip (None: nobody did)."""
        row = await self.db.reader.fetch_one("SELECT clip_removed_by FROM jobs WHERE id = ?", (job_id,))
        return None if row is None or row[0] is None else int(row[0])


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A job's stored result message (channel None: an ephemeral followup) and when its upload began."""

    message_id: int | None
    channel_id: int | None
    started_at: float | None


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


def _settlement(job: Job, previous: JobState) -> Settlement:
    """Money follows Prodia: what it charged (its price, else the estimate) stays spent, whatever happens
    next. Quota follows the member: kept for a delivered clip or their own cancel after submission, given
    back when the bot or the provider failed the job, or nothing ran (README, "Refunds")."""
    if job.state is JobState.DELIVERED or charged_at_prodia(job, previous):
        cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
        return Settlement("commit", cost, quota_returned=job.state is JobState.FAILED)
    return Settlement("refund", job.estimated_cost, quota_returned=True)


async def _ledger(
    conn: Conn, job: Job, kind: str, dollars: float, now: float, *, quota_returned: bool = False
) -> None:
    await conn.execute(
        """INSERT INTO usage_ledger (job_id, guild_id, user_id, kind, video_seconds, dollars, created_at,
                                     quota_returned)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (job.id, job.guild_id, job.user_id, kind, job.request.duration, dollars, now, int(quota_returned)),
    )
