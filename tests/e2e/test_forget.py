"""/sora-admin user forget deletes exactly the files of that member's jobs in that server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot import files
from bot.client import SoraBot
from bot.domain.models import JobState
from tests.e2e.conftest import BOTH_ENGINES, BOTH_STORAGES, MANAGE_GUILD, World, finished, until

# The store's PostgreSQL side under the real bot, as well as SQLite; the files in the output folder and in
# a bucket of the local S3 server.
pytestmark = [
    pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True),
    pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True),
]


DERIVED = ("{id}.fit-9437184.mp4", "{id}.poster-320.jpg", "{id}.preview-9437184.mp4", "{id}.last.png")


def _still() -> dict[str, tuple[str, bytes, str]]:
    data = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 90, 30)).save(data, format="PNG")
    return {"pic": ("pic.png", data.getvalue(), "image/png")}


async def _files(bot: SoraBot) -> set[str]:
    """Every stored name, whatever the store."""
    return set(await bot.pipeline.storage.listing())


def _stored(image_path: str | None) -> str:
    return f"{files.INPUTS}/{files.input_name(image_path)}"


async def test_forget_deletes_only_that_members_files_in_that_server(world: World) -> None:
    """Job ids share prefixes (1 and 10-12), alice is in both servers, and bob's Re-roll of alice's job 1
    has its own copy of the input image: forgetting alice in the first server leaves every other file in
    place. (Images shared between jobs, as older versions stored Re-rolls: the store's test.)"""
    other = world.fake.add_guild(name="other")
    other_channel = other.add_channel("general")
    other.add_member(world.alice, name="alice")
    carol = other.add_member(name="carol")
    other_admin = other.add_member(name="other-admin", roles=[other.add_role("admins", MANAGE_GUILD)])
    here: dict[str, int] = {}
    there = {"guild_id": other.id, "channel_id": other_channel}
    async with world.bot(dev_guild_id=None) as bot:  # global commands, as in both servers
        assert (await world.video_answer(prompt="alice's kite", image="pic", attachments=_still()))["embeds"]
        await finished(bot, 1)
        [posted] = await until(world.clips, what="job 1's clip")
        await world.fake.click(
            "sora:reroll:1", message_id=int(posted["id"]), user_id=world.bob, guild_id=world.guild_id
        )
        await until(lambda: bot.pipeline.store.get(2), what="bob's re-roll, job 2")
        assert (await world.video_answer(prompt="alice's boat", image="pic", attachments=_still()))["embeds"]
        owners = [  # jobs 4 to 12: whose, and where
            (world.bob, here), (carol, there), (world.alice, there), (world.bob, here), (carol, there),
            (world.alice, there), (world.bob, here), (carol, there), (world.alice, there),
        ]  # fmt: skip
        for number, (user, where) in enumerate(owners, start=4):
            answer = await world.video_answer(user, prompt=f"clip number {number}", **where)
            assert answer["embeds"], answer
        jobs = [await finished(bot, job_id) for job_id in range(1, 13)]
        assert all(job.state is JobState.DELIVERED for job in jobs), [(j.id, j.error) for j in jobs]
        assert jobs[1].user_id == world.bob and jobs[1].request.image_path != jobs[0].request.image_path
        assert [j.id for j in jobs if j.user_id == world.alice and j.guild_id == world.guild_id] == [1, 3]

        for job in jobs:  # what re-encodes, posters, previews and Continue leave beside a clip
            for pattern in DERIVED:
                await bot.pipeline.storage.put_bytes(pattern.format(id=job.id), b"derived")
        before = await _files(bot)
        first, copy, alone = (_stored(j.request.image_path) for j in (jobs[0], jobs[1], jobs[2]))
        gone = {f"{job_id}.mp4" for job_id in (1, 3)}
        gone |= {p.format(id=job_id) for p in DERIVED for job_id in (1, 3)}
        gone |= {first, alone}
        assert gone <= before and copy in before

        token = await world.admin_command("user", "forget", member=world.alice)
        assert f"{len(gone)} files deleted" in world.answer(token)["content"]
        assert await _files(bot) == before - gone
        assert copy in await _files(bot)  # bob's Re-roll (job 2) owns its own copy
        for job_id in (1, 3):
            forgotten = await bot.pipeline.store.get(job_id)
            assert forgotten is not None and forgotten.request.prompt == "[removed]"
        for job in jobs[3:]:
            kept = await bot.pipeline.store.get(job.id)
            assert kept is not None and kept.output_path and kept.request.prompt == job.request.prompt

        # The other server's admin forgetting alice there takes her jobs 6, 9 and 12, and only them.
        token = await world.admin_command("user", "forget", member=world.alice, user_id=other_admin, **there)
        gone_there = {n for job_id in (6, 9, 12) for n in _names(job_id)}
        assert f"{len(gone_there)} files deleted" in world.answer(token)["content"]
        assert await _files(bot) == before - gone - gone_there


def _names(job_id: int) -> set[str]:
    return {f"{job_id}.mp4"} | {p.format(id=job_id) for p in DERIVED}
