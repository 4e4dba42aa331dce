"""Forgetting a member: their prompts go, and their jobs' hold on files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.domain.models import JobType
from bot.files import input_name, unused_inputs
from bot.store.db import Conn
from bot.store.guild_cache import GuildRepository

REMOVED = "[removed]"  # what forgetting leaves in place of a member's prompt and image
IMAGE_JOB_TYPES = tuple(t.value for t in JobType if t.image_to_video)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting a member frees: their jobs (whose files go) and the input images no one else uses."""

    job_ids: list[int]
    inputs: list[str]
    story_ids: list[int] = field(default_factory=list)  # their stories, whose joined clips go too


class ForgetRepository(GuildRepository):
    """Forgetting a member's data, per server."""

    async def end_member_stories(self, guild_id: int, user_id: int, now: float) -> int:
        """End the member's unfinished stories in this server without joining or posting anything (they are
        being forgotten): their shots are cancelled next, and no listener acts on an ended story."""
        async with self._write(guild_id) as conn:
            rows = await conn.fetch_all(
                """UPDATE stories SET state = 'cancelled', finished_at = ?, error = 'member forgotten'
                    WHERE guild_id = ? AND user_id = ? AND state IN ('running', 'stopping') RETURNING id""",
                (now, guild_id, user_id),
            )
        return len(rows)

    async def forget_member(self, guild_id: int, user_id: int) -> Forgotten:
        """Remove a member's prompts (from their jobs in this server and the audit log) and their jobs'
        hold on files; returns the jobs whose files go and the input images no other job uses."""
        async with self._write(guild_id) as conn:
            jobs = await conn.fetch_all(
                "SELECT id, request, target FROM jobs WHERE guild_id = ? AND user_id = ? ORDER BY id"  # noqa: S608
                + conn.for_update,
                (guild_id, user_id),
            )
            job_ids = [int(row[0]) for row in jobs]
            images: set[str] = set()
            for job_id, request_text, target_text in jobs:
                request, target = json.loads(request_text), json.loads(target_text)
                name = input_name(request.get("image_path"))
                if name is not None:
                    images.add(name)
                if request.get("image_path") is not None:
                    # The job no longer holds its image: retention counts only the jobs that still use it.
                    request["image_path"] = REMOVED
                request["prompt"] = REMOVED
                target.pop("interaction_token", None)
                await conn.execute(
                    "UPDATE jobs SET request = ?, target = ?, output_path = NULL WHERE id = ?",
                    (json.dumps(request), json.dumps(target), job_id),
                )
            stories = await conn.fetch_all(
                "SELECT id, target FROM stories WHERE guild_id = ? AND user_id = ? ORDER BY id",
                (guild_id, user_id),
            )
            story_ids = [int(row[0]) for row in stories]
            for story_id, target_text in stories:
                target = json.loads(target_text)
                target.pop("interaction_token", None)
                await conn.execute(
                    "UPDATE stories SET output_path = NULL, target = ? WHERE id = ?",
                    (json.dumps(target), story_id),
                )
            still_used = await _images_used_by_others(conn, images, guild_id, user_id)
            for entry_id, details_text in await conn.fetch_all(
                f"SELECT id, details FROM audit_log WHERE guild_id = ?{conn.for_update}",  # noqa: S608
                (guild_id,),
            ):
                details = json.loads(details_text)
                if details.get("requester") == user_id and details.get("prompt") is not None:
                    details["prompt"] = REMOVED
                    await conn.execute(
                        "UPDATE audit_log SET details = ? WHERE id = ?", (json.dumps(details), entry_id)
                    )
        return Forgotten(
            job_ids=job_ids, inputs=sorted(unused_inputs(images, still_used)), story_ids=story_ids
        )


async def _images_used_by_others(conn: Conn, names: set[str], guild_id: int, user_id: int) -> set[str]:
    """Which of these input images a job of someone else (or of this member in another server) names."""
    used: set[str] = set()
    for name in sorted(names):
        # The name is 32 hex digits, so LIKE finds the candidates; the JSON says which really name it.
        rows = await conn.fetch_all(
            f"""SELECT request FROM jobs WHERE job_type IN ({", ".join("?" for _ in IMAGE_JOB_TYPES)})
                   AND NOT (guild_id IS NOT DISTINCT FROM ? AND user_id = ?) AND request LIKE ?""",  # noqa: S608
            (*IMAGE_JOB_TYPES, guild_id, user_id, f"%{name}%"),
        )
        if any(input_name(json.loads(row[0]).get("image_path")) == name for row in rows):
            used.add(name)
    return used
