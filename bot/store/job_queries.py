"""Reading jobs for commands and the dashboard: lists, the dashboard's search, a member's recent and waiting
jobs, the queue, expired approvals."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.domain.models import TERMINAL, Job, JobState, JobType, Model
from bot.store.db import Database
from bot.store.job_table import JobTable, row_to_job, states_in

# A private job's target, matched as in `recent_jobs` (why that is safe is said there).
_PRIVATE = "'%\"private\": true%'"
# The prompt inside the request's JSON, and a case-insensitive LIKE (SQLite's LIKE ignores case, for ASCII).
_PROMPT = {"sqlite": "json_extract(request, '$.prompt')", "postgresql": "(request::json ->> 'prompt')"}
_LIKE = {"sqlite": "LIKE", "postgresql": "ILIKE"}


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What a list of a server's jobs is narrowed to; None (or empty) leaves a field open."""

    user_id: int | None = None
    states: Collection[JobState] = ()
    model: Model | None = None
    created_from: float | None = None  # unix seconds, inclusive
    created_before: float | None = None  # unix seconds, exclusive
    text: str = ""  # in the prompt, any case; `%` and `_` mean themselves


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') that matches `text` anywhere, its `%`, `_` and `\\` as themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def job_types_of(model: Model) -> list[str]:
    """The job types a model's jobs are stored under (the `job_type` column)."""
    return [t.value for t in JobType if t.pro == (model == "sora-2-pro")]


class JobQueries(JobTable):
    """Read-only queries over jobs."""

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
            clauses.append(f"state IN {states_in(states)}")
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [
            row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
                (*params, limit),
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
            row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs WHERE guild_id = ? AND user_id = ?{private}"  # noqa: S608
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                (guild_id, user_id, limit, offset),
            )
        ]

    async def search_jobs(
        self, guild_id: int, viewer_id: int, found: JobFilter, *, before_id: int | None = None, limit: int
    ) -> list[Job]:
        """The server's jobs that match `found`, newest first, below `before_id` (the page before's last),
        at most `limit`. A private job is listed only for its owner (`viewer_id`): to anyone else it is as if
        it did not exist, whatever the filters."""
        clauses = ["guild_id = ?", f"(target NOT LIKE {_PRIVATE} OR user_id = ?)"]
        params: list[object] = [guild_id, viewer_id]
        if found.user_id is not None:
            clauses.append("user_id = ?")
            params.append(found.user_id)
        if found.states:
            clauses.append(f"state IN {states_in(found.states)}")
        if found.model is not None:
            types = job_types_of(found.model)
            clauses.append(f"job_type IN ({', '.join('?' for _ in types)})")
            params += types
        if found.created_from is not None:
            clauses.append("created_at >= ?")
            params.append(found.created_from)
        if found.created_before is not None:
            clauses.append("created_at < ?")
            params.append(found.created_before)
        if found.text:
            engine = self.db.reader.engine
            clauses.append(f"{_PROMPT[engine]} {_LIKE[engine]} ? ESCAPE '\\'")
            params.append(like_pattern(found.text))
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        return [
            row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",  # noqa: S608
                (*params, limit),
            )
        ]

    async def waiting_jobs(self, guild_id: int, user_id: int, *, limit: int) -> list[Job]:
        """A member's jobs in this server that have not ended yet, oldest first, at most `limit`."""
        return [
            row_to_job(row)
            for row in await self.db.reader.fetch_all(
                "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ?"  # noqa: S608
                f" AND state NOT IN {states_in(TERMINAL)} ORDER BY id LIMIT ?",
                (guild_id, user_id, limit),
            )
        ]

    async def count_queued(self, guild_id: int) -> int:
        """How many jobs wait in this server's queue (for /queue)."""
        row = await self.db.reader.fetch_one(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND guild_id = ?", (guild_id,)
        )
        return int(row[0]) if row else 0

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

    async def expired_approvals(self, older_than: float) -> list[Job]:
        """Jobs that waited for approval since before `older_than`."""
        return [
            row_to_job(row)
            for row in await self.db.reader.fetch_all(
                "SELECT * FROM jobs WHERE state = 'awaiting_approval' AND created_at < ? ORDER BY id",
                (older_than,),
            )
        ]


async def count_in_states(db: Database, states: Collection[JobState]) -> dict[JobState, int]:
    """How many jobs are in each of `states` now, across every server (the metrics' queue gauges)."""
    marks = ", ".join("?" for _ in states)
    rows = await db.reader.fetch_all(
        f"SELECT state, COUNT(*) AS n FROM jobs WHERE state IN ({marks}) GROUP BY state",  # noqa: S608
        tuple(state.value for state in states),
    )
    counts = {JobState(str(row["state"])): int(row["n"]) for row in rows}
    return {state: counts.get(state, 0) for state in states}


async def ping(db: Database) -> None:
    """A trivial query; raises when the database does not answer (readiness)."""
    await db.reader.fetch_one("SELECT 1")
