"""What the retention sweep asks of the jobs table: which jobs keep their files, and which images are used."""

from __future__ import annotations

import json
from collections.abc import Collection

from bot.domain.models import TERMINAL, JobState, JobType
from bot.store.job_table import JobTable, states_in

# The stories still running and every story whose shots they reuse (Re-roll, Extend): their shots' clips
# stay whatever their own age, or the story could not be joined.
_RUNNING_STORIES = """WITH RECURSIVE keeping (id) AS (
        SELECT id FROM stories WHERE state IN ('running', 'stopping')
        UNION SELECT stories.based_on FROM stories JOIN keeping ON stories.id = keeping.id
         WHERE stories.based_on IS NOT NULL)"""


class RetentionQueries(JobTable):
    """The jobs table as the retention sweep sees it."""

    async def old_outputs(self, finished_before: float) -> list[tuple[int, str]]:
        """Finished jobs whose clip is still on disk, finished before the given time: (id, output path)."""
        return [
            (int(row[0]), str(row[1]))
            for row in await self.db.reader.fetch_all(
                f"""{_RUNNING_STORIES}
                SELECT id, output_path FROM jobs WHERE state IN {states_in(TERMINAL)}
                AND output_path IS NOT NULL AND finished_at < ?
                AND (story_id IS NULL OR story_id NOT IN (SELECT id FROM keeping)) ORDER BY id""",  # noqa: S608
                (finished_before,),
            )
        ]

    async def clear_output(self, job_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET output_path = NULL WHERE id = ?", (job_id,))

    async def jobs_keeping_files(self, finished_before: float) -> set[int]:
        """Jobs whose files stay: not finished yet, finished at or after the given time, or shots of a story
        still running (or reused by one)."""
        return {
            int(row[0])
            for row in await self.db.reader.fetch_all(
                f"""{_RUNNING_STORIES}
                SELECT id FROM jobs WHERE state NOT IN {states_in(TERMINAL)} OR finished_at >= ?
                    OR story_id IN (SELECT id FROM keeping)""",  # noqa: S608
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
