"""Stories: a row per story, and its shots as jobs (`story_id`, `shot_index`) created together."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot.domain.limits import Limits, check_budget, check_limits
from bot.domain.models import Job, JobRequest, JobState, Target
from bot.domain.stories import Story, StoryState, Transition, shot_kind
from bot.errors import UserFacingError
from bot.i18n.messages import _
from bot.store.db import Conn, Row
from bot.store.job_table import JobTable, NewJob, insert_job, row_to_job
from bot.store.ledger import write_ledger
from bot.store.usage import spend_today, usage_of

log = logging.getLogger("bot.jobs")


@dataclass(frozen=True, slots=True)
class NewStory:
    """What the caller knows when a story is accepted: one request and estimate per shot it makes. A Re-roll
    or an Extend is `based_on` an earlier story and reuses its shots before `first_shot`."""

    requests: Sequence[JobRequest]
    estimated_costs: Sequence[float]
    user_id: int
    target: Target  # where the joined clip goes
    transition: Transition = "cut"
    guild_id: int | None = None
    channel_id: int | None = None
    based_on: int | None = None
    first_shot: int = 0
    needs_approval: bool = False  # the first shot made waits for a moderator (the rest wait for it)


async def story_runs(conn: Conn, story_id: int) -> bool:
    """Whether the story still runs, its row locked to the end of the transaction (PostgreSQL): a claim to
    end it (`claim_story_end`) waits, so no shot is queued or tried again once it is being ended."""
    row = await conn.fetch_one(f"SELECT state FROM stories WHERE id = ?{conn.for_update}", (story_id,))  # noqa: S608
    return row is not None and row["state"] == StoryState.RUNNING.value


def row_to_story(row: Row) -> Story:
    return Story(
        id=row["id"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        target=json.loads(row["target"]),
        shots=row["shots"],
        transition=row["transition"],
        state=StoryState(row["state"]),
        output_path=row["output_path"],
        error=row["error"],
        user_error=row["user_error"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        based_on=row["based_on"],
        first_shot=row["first_shot"],
        status_message_id=row["status_message_id"],
        result_message_id=row["result_message_id"],
        result_channel_id=row["result_channel_id"],
        stop_until=row["stop_until"],
        stop_owner=row["stop_owner"],
    )


class Stories(JobTable):
    """Creating a story with its shots, moving a shot out of `waiting`, stopping and finishing a story."""

    if TYPE_CHECKING:  # JobStore's, the one place a job's state changes

        async def transition(
            self,
            job_id: int,
            to: JobState,
            *,
            expect: Collection[JobState] | None = None,
            owner: str | None = None,
            story_running: int | None = None,
            **fields: Any,
        ) -> Job | None: ...

    async def create_story(
        self, new: NewStory, limits: Limits | None = None, budget_per_day: float | None = None
    ) -> tuple[Story, list[Job]]:
        """Store a story and all its shots, reserving every shot's usage, in one transaction: shot 1 queued,
        the others waiting. The limits and the budget see the whole story up front; its shots hold one of
        the member's concurrent slots between them (one runs at a time). Raises QuotaExceeded (and stores
        nothing) when a shot would cross one."""
        if len(new.requests) != len(new.estimated_costs) or not new.requests:
            raise ValueError("a story needs one estimate per shot")
        now = self._clock()
        first_state = JobState.AWAITING_APPROVAL if new.needs_approval else JobState.QUEUED
        kind = shot_kind(str(new.target["kind"]))
        async with self.db.transaction() as conn:
            await conn.lock("quota", new.guild_id if new.guild_id is not None else ("user", new.user_id))
            if new.based_on is not None and await conn.fetch_one(
                "SELECT id FROM stories WHERE based_on = ? AND state IN ('running', 'stopping')",
                (new.based_on,),
            ):
                raise UserFacingError(
                    _("A re-roll or extension of this story is being made already; wait for it to finish.")
                )
            row = await conn.fetch_one(
                """INSERT INTO stories (user_id, guild_id, channel_id, target, shots, transition, state,
                                        created_at, based_on, first_shot)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
                (
                    new.user_id,
                    new.guild_id,
                    new.channel_id,
                    json.dumps(new.target),
                    new.first_shot + len(new.requests),
                    new.transition,
                    StoryState.RUNNING.value,
                    now,
                    new.based_on,
                    new.first_shot,
                ),
            )
            assert row is not None
            story = row_to_story(row)
            shots: list[Job] = []
            for index, (request, cost) in enumerate(zip(new.requests, new.estimated_costs, strict=True)):
                if limits is not None:
                    usage = await usage_of(conn, new.guild_id, new.user_id, now)
                    if index:  # shot 1 holds the story's slot; the waiting shots aren't counted as active
                        usage = replace(usage, active_jobs=max(0, usage.active_jobs - 1))
                    check_limits(usage, limits, request.duration)
                if budget_per_day is not None and new.guild_id is not None:
                    check_budget(await spend_today(conn, new.guild_id, now), budget_per_day, cost, now)
                shot = NewJob(
                    request=request,
                    user_id=new.user_id,
                    estimated_cost=cost,
                    target_kind=kind,
                    # A private story's shots are private: /show and /history treat them as the story.
                    # Its texts for the requester and its posts speak the story's languages.
                    target=shot_target(kind, new.target),
                    guild_id=new.guild_id,
                    channel_id=new.channel_id,
                    state=JobState.WAITING if index else first_state,
                )
                job = await insert_job(conn, shot, now, story_id=story.id, shot_index=new.first_shot + index)
                await write_ledger(conn, job, "reserve", job.estimated_cost, now)
                shots.append(job)
        log.info(
            "story %d created with %d shots (est $%.2f, user %d): jobs %s",
            story.id,
            len(shots),
            sum(job.estimated_cost for job in shots),
            story.user_id,
            ", ".join(str(job.id) for job in shots),
        )
        return story, shots

    async def running_story_ids(self) -> list[int]:
        """The stories not ended yet (being ended included)."""
        rows = await self.db.reader.fetch_all(
            "SELECT id FROM stories WHERE state IN ('running', 'stopping') ORDER BY id"
        )
        return [int(row[0]) for row in rows]

    async def claim_story_end(self, story_id: int, seconds: float, *, why: str | None = None) -> Story | None:
        """Claim the ending of a running story (joining and posting its shots) for `seconds`, or take over a
        claim that ran out (its process died, or gave it up); None when another holds it or the story ended.
        `why` it ends (a Cancel) is kept for whoever takes the claim over."""
        now = self._clock()
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                """UPDATE stories SET state = 'stopping', stop_until = ?, stop_owner = ?,
                          user_error = COALESCE(?, user_error)
                    WHERE id = ? AND (state = 'running' OR (state = 'stopping' AND stop_until < ?))
                RETURNING *""",
                (now + seconds, uuid.uuid4().hex, why, story_id, now),
            )
        return row_to_story(row) if row is not None else None

    async def holds_claim(self, story: Story) -> bool:
        """Whether `story`'s claim (as `claim_story_end` returned it) still holds: nobody took it over and
        the story did not end meanwhile (its member forgotten)."""
        row = await self.db.reader.fetch_one(
            "SELECT state, stop_owner FROM stories WHERE id = ?", (story.id,)
        )
        return row is not None and row["state"] == "stopping" and row["stop_owner"] == story.stop_owner

    async def renew_story_claim(self, story: Story, seconds: float) -> None:
        """Extend this claim while its holder works (joining and posting take long)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE stories SET stop_until = ? WHERE id = ? AND state = 'stopping' AND stop_owner = ?",
                (self._clock() + seconds, story.id, story.stop_owner),
            )

    async def release_story_claim(self, story: Story) -> None:
        """Give up this claim at once (an outage): the story stays closed to new shots, and the next to claim
        it (the shot's delivery tried again, or recovery) ends it."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE stories SET stop_until = 0 WHERE id = ? AND state = 'stopping' AND stop_owner = ?",
                (story.id, story.stop_owner),
            )

    async def get_story(self, story_id: int) -> tuple[Story, list[Job]] | None:
        """A story and its shots, in order (a shot tried again: its latest job); a Re-roll's or an Extend's
        shots before its `first_shot` are those of the story it is based on."""
        row = await self.db.reader.fetch_one("SELECT * FROM stories WHERE id = ?", (story_id,))
        if row is None:
            return None
        story = row_to_story(row)
        shots: dict[int, Job] = {}
        if story.based_on is not None and story.first_shot:
            earlier = await self.get_story(story.based_on)
            for job in earlier[1] if earlier is not None else []:
                if (job.shot_index or 0) < story.first_shot:
                    shots[job.shot_index or 0] = job
        for shot in await self.db.reader.fetch_all(
            "SELECT * FROM jobs WHERE story_id = ? ORDER BY shot_index, id", (story_id,)
        ):
            shots[shot["shot_index"]] = row_to_job(shot)
        return story, [shots[index] for index in sorted(shots)]

    async def story_of_message(self, message_id: int) -> Story | None:
        """The story whose clip (or status) is this message."""
        row = await self.db.reader.fetch_one(
            "SELECT * FROM stories WHERE result_message_id = ? OR status_message_id = ? ORDER BY id LIMIT 1",
            (message_id, message_id),
        )
        return row_to_story(row) if row is not None else None

    async def set_story_messages(
        self,
        story_id: int,
        *,
        status_message_id: int | None = None,
        result: tuple[int, int | None] | None = None,
    ) -> None:
        """Record the story's status message, or its posted clip (message id, channel id: None when
        ephemeral), so a restart finds them."""
        async with self.db.transaction() as conn:
            if status_message_id is not None:
                await conn.execute(
                    "UPDATE stories SET status_message_id = ? WHERE id = ?", (status_message_id, story_id)
                )
            if result is not None:
                await conn.execute(
                    "UPDATE stories SET result_message_id = ?, result_channel_id = ? WHERE id = ?",
                    (result[0], result[1], story_id),
                )

    async def clear_story_output(self, story_id: int) -> None:
        """The story's joined clip is gone (its Delete)."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE stories SET output_path = NULL WHERE id = ?", (story_id,))

    async def queue_shot(self, story_id: int, shot_index: int, image_path: str) -> Job | None:
        """Give a waiting shot its start picture and queue it; None when it isn't waiting (already queued
        by an earlier call, or stopped), so calling it again changes nothing."""
        row = await self.db.reader.fetch_one(
            "SELECT * FROM jobs WHERE story_id = ? AND shot_index = ? ORDER BY id DESC LIMIT 1",
            (story_id, shot_index),
        )
        if row is None:
            return None
        job = row_to_job(row)
        if job.state is not JobState.WAITING:
            return None
        request = job.request.model_copy(update={"kind": "img2vid", "image_path": image_path})
        return await self.transition(
            job.id, JobState.QUEUED, expect={JobState.WAITING}, story_running=story_id, request=request
        )

    async def retry_shot(self, failed: Job) -> Job | None:
        """Queue a failed shot once more as a new job (same request: prompt, seed, start picture), reserving
        its estimate again (the failure gave the quota back); None when the shot was tried twice already, or
        its story no longer runs. The story was accepted whole, so no limit is checked again."""
        if failed.story_id is None or failed.shot_index is None or failed.state is not JobState.FAILED:
            return None
        now = self._clock()
        async with self.db.transaction() as conn:
            await conn.lock(
                "quota", failed.guild_id if failed.guild_id is not None else ("user", failed.user_id)
            )
            if not await story_runs(conn, failed.story_id):
                return None  # being ended (a Cancel): no shot is tried again
            row = await conn.fetch_one(
                "SELECT COUNT(*) FROM jobs WHERE story_id = ? AND shot_index = ?",
                (failed.story_id, failed.shot_index),
            )
            if row is None or int(row[0]) != 1:
                return None
            again = NewJob(
                request=failed.request,
                user_id=failed.user_id,
                estimated_cost=failed.estimated_cost,
                target_kind=str(failed.target["kind"]),
                target=failed.target,
                guild_id=failed.guild_id,
                channel_id=failed.channel_id,
            )
            job = await insert_job(conn, again, now, story_id=failed.story_id, shot_index=failed.shot_index)
            await write_ledger(conn, job, "reserve", job.estimated_cost, now)
        log.info(
            "story %d: shot %d tried again as job %d (job %d failed)",
            failed.story_id,
            failed.shot_index + 1,
            job.id,
            failed.id,
        )
        return job

    async def stop_waiting_shots(self, story_id: int, *, error: str, user_error: str) -> list[Job]:
        """Cancel the story's shots still waiting, giving back their reservations; returns them."""
        rows = await self.db.reader.fetch_all(
            "SELECT id FROM jobs WHERE story_id = ? AND state = 'waiting' ORDER BY shot_index", (story_id,)
        )
        stopped: list[Job] = []
        for row in rows:
            job = await self.transition(
                row["id"], JobState.CANCELLED, expect={JobState.WAITING}, error=error, user_error=user_error
            )
            if job is not None:
                stopped.append(job)
        return stopped

    async def finish_story(
        self,
        story_id: int,
        state: StoryState,
        *,
        output_path: str | None = None,
        error: str | None = None,
        user_error: str | None = None,
    ) -> Story | None:
        """End a running (or stopping) story; None when it had ended already (only one caller finishes it)."""
        async with self.db.transaction() as conn:
            row = await conn.fetch_one(
                """UPDATE stories SET state = ?, output_path = ?, error = ?, user_error = ?, finished_at = ?
                    WHERE id = ? AND state IN ('running', 'stopping') RETURNING *""",
                (state.value, output_path, error, user_error, self._clock(), story_id),
            )
        if row is None:
            return None
        story = row_to_story(row)
        log.info("story %d %s%s", story.id, story.state.value, f": {error}" if error else "")
        return story

    async def stories_keeping_files(self, finished_before: float) -> set[int]:
        """The stories whose joined clip is kept: running, or finished at `finished_before` or later."""
        rows = await self.db.reader.fetch_all(
            "SELECT id FROM stories WHERE finished_at IS NULL OR finished_at >= ?", (finished_before,)
        )
        return {int(row[0]) for row in rows}

    async def clear_story_outputs(self, finished_before: float) -> None:
        """The joined clips of stories finished before `finished_before` are gone (retention deleted them)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE stories SET output_path = NULL WHERE finished_at < ? AND output_path IS NOT NULL",
                (finished_before,),
            )


def shot_target(kind: str, story: Target) -> Target:
    """A shot's target: the story's output, privacy and languages (its texts for the requester and its
    posts speak the story's)."""
    target: Target = {"kind": kind, "private": bool(story.get("private"))}
    if "locale" in story:
        target["locale"] = story["locale"]
    if "guild_locale" in story:
        target["guild_locale"] = story["guild_locale"]
    return target
