"""Forgetting a member while the worker makes one of their clips leaves nothing of it: the worker, finding
the job cancelled (when it comes to store the clip, or at its next lease check), deletes what it made, in
the store and in its working folder, and posts nothing. Forgotten by the dashboard (a process that runs no
jobs: the job is cancelled through the store) or by /sora-admin user forget in the bot itself."""

from __future__ import annotations

import asyncio
import functools
from typing import Literal

import pytest

from bot import files
from bot.client import SoraBot
from bot.domain.models import JobState
from bot.services.forgetting import cancel_through_store, forget
from bot.storage.open import open_storage
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from tests.e2e.conftest import BOTH_STORAGES, World, finished, kept_files, until

pytestmark = pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)

Moment = Literal["while downloading", "while Prodia makes it"]
Noticed = Literal["storing the clip", "the lease check"]


async def forget_from_the_dashboard(world: World) -> int:
    """As the dashboard forgets: its own database connection and store, the jobs cancelled through the
    store (the worker holding one learns it from there). Returns how many files it deleted."""
    settings = world.settings()
    db = await Database.open(settings.database_target)
    try:
        jobs = JobStore(db)
        storage = open_storage(settings, working=False)
        cancel = functools.partial(cancel_through_store, jobs)
        return await forget(Governance(db), jobs, storage, cancel, world.guild_id, world.alice)
    finally:
        await db.close()


async def running_at_prodia(bot: SoraBot) -> bool:
    job = await bot.pipeline.store.get(1)
    return job is not None and job.state is JobState.RUNNING and job.prodia_job_id is not None


async def nothing_left(world: World, bot: SoraBot) -> None:
    """Job 1 ended cancelled, forgotten, with no file anywhere and no clip posted."""
    await until(lambda: 1 not in bot.pipeline.scheduler.running_jobs, what="the worker to let job 1 go")
    job = await finished(bot, 1)
    assert job.state is JobState.CANCELLED and job.request.prompt == "[removed]", job
    kept = await kept_files(bot)
    assert files.names_of_jobs(kept, [1]) == [], kept
    assert world.clips() == [] and world.dm_clips(world.alice) == []


@pytest.mark.parametrize(
    ("moment", "noticed"),
    [
        ("while downloading", "storing the clip"),
        ("while downloading", "the lease check"),
        ("while Prodia makes it", "storing the clip"),  # downloaded whole after the forget
    ],
)
async def test_forgotten_on_the_dashboard_while_the_worker_makes_the_clip(
    world: World, moment: Moment, noticed: Noticed
) -> None:
    """A long lease (60 s) leaves the worker to find out when it stores the clip; a short one (3 s, checked
    every second) lets the lease check stop it while the download still hangs."""
    release = asyncio.Event()
    world.prodia.download_gate = release
    world.prodia.stuck = moment == "while Prodia makes it"
    async with world.bot(lease_seconds=60.0 if noticed == "storing the clip" else 3.0) as bot:
        await world.video(prompt="a clip to forget")
        if moment == "while downloading":
            await until(lambda: world.prodia.downloads_held == 1, what="the download to start")
        else:
            await until(lambda: running_at_prodia(bot), what="the job at Prodia")
        await forget_from_the_dashboard(world)
        if noticed == "the lease check":
            await until(lambda: 1 not in bot.pipeline.scheduler.running_jobs, what="the lease check")
        world.prodia.stuck = False
        release.set()
        await nothing_left(world, bot)
        if moment == "while Prodia makes it":
            assert world.prodia.requests_for("GET file"), "the clip was downloaded after the forget"


async def test_forgotten_by_the_bot_itself_while_it_downloads_the_clip(world: World) -> None:
    """The bot's own /sora-admin user forget stops its task at once: the half-downloaded clip goes too."""
    release = asyncio.Event()
    world.prodia.download_gate = release
    async with world.bot() as bot:
        await world.video(prompt="a clip to forget")
        await until(lambda: world.prodia.downloads_held == 1, what="the download to start")
        await world.admin_command("user", "forget", member=world.alice)
        release.set()
        await nothing_left(world, bot)
