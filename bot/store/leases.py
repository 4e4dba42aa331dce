"""Leases on jobs: renew, release, list, and take over a dead worker's."""

from __future__ import annotations

import logging
from collections.abc import Collection

from bot.domain.models import LEASED, Job
from bot.store.job_table import JobTable, row_to_job, states_in

log = logging.getLogger("bot.jobs")


class Leases(JobTable):
    """Which worker holds which job, and until when."""

    async def renew_leases(self, owner: str, lease_seconds: float) -> set[int]:
        """Extend every lease `owner` holds; returns the ids of the jobs it still holds."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch_all(
                f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND state IN {states_in(LEASED)}"  # noqa: S608
                " RETURNING id",
                (self._clock() + lease_seconds, owner),
            )
        return {int(row[0]) for row in rows}

    async def release_leases(self, owner: str) -> None:
        """Let others take over `owner`'s jobs at once (a clean shutdown)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET lease_expires_at = 0"  # noqa: S608
                f" WHERE lease_owner = ? AND state IN {states_in(LEASED)}",
                (owner,),
            )

    async def leased_jobs(self, target_kinds: Collection[str]) -> list[Job]:
        """Jobs held by a worker (this one too), alive or not; the caller decides which leases are dead."""
        kinds = ", ".join("?" for _ in target_kinds) or "NULL"
        return [
            row_to_job(row)
            for row in await self.db.reader.fetch_all(
                f"SELECT * FROM jobs WHERE state IN {states_in(LEASED)}"  # noqa: S608
                f" AND target_kind IN ({kinds}) ORDER BY id",
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
        return row_to_job(row)
