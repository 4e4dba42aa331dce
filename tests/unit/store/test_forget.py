"""Forgetting a member on both engines: exactly their jobs in that server, and only the images no one else
uses; a forgotten job lets go of its image, so retention counts only the jobs that still use it."""

from __future__ import annotations

import time
from dataclasses import replace

from bot.domain.models import JobRequest
from bot.files import input_name
from bot.store.db import Database
from bot.store.forget import REMOVED, Forgotten
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from tests.unit.store.test_governance import GUILD, OTHER, job_for

IMAGES = [f"/data/clips/inputs/{i:032x}.jpg" for i in range(4)]


async def _add(store: JobStore, user_id: int, guild_id: int, image: str | None) -> int:
    new = job_for(user_id, guild_id)
    request = JobRequest.parse(prompt="a secret plan", image_path=image)
    return (await store.create(replace(new, request=request))).id


async def test_forget_names_the_members_jobs_here_and_the_images_no_one_else_uses(db: Database) -> None:
    gov, store = Governance(db), JobStore(db)
    shared, alone, elsewhere, theirs = IMAGES
    ids = {
        "mine, shared": await _add(store, 7, GUILD, shared),  # 1
        "a re-roll of it": await _add(store, 8, GUILD, shared),  # 2
        "mine, alone": await _add(store, 7, GUILD, alone),  # 3
        "mine, elsewhere": await _add(store, 7, OTHER, elsewhere),  # 4
        "mine, no image": await _add(store, 7, GUILD, None),  # 5
    }
    for _ in range(5):  # jobs 6 to 10, then 11: job 1's id is a prefix of theirs
        await _add(store, 8, GUILD, None)
    ids["theirs"] = await _add(store, 9, GUILD, theirs)
    ids["mine, same image there"] = await _add(store, 7, OTHER, alone)
    assert ids["theirs"] == 11

    forgotten = await gov.forget_member(GUILD, 7)

    assert forgotten == Forgotten(
        job_ids=[ids["mine, shared"], ids["mine, alone"], ids["mine, no image"]], inputs=[]
    ), "job 3's image is named by 7's job in the other server too"
    for key in ("mine, shared", "mine, alone"):
        job = await store.get(ids[key])
        assert job is not None and job.request.image_path == REMOVED and job.request.prompt == REMOVED
    for key in ("a re-roll of it", "mine, elsewhere", "theirs", "mine, same image there"):
        job = await store.get(ids[key])
        assert job is not None and job.request.image_path in IMAGES and job.request.prompt == "a secret plan"
    references = {input_name(path) for path, _ in await store.image_references(0.0, time.time())}
    assert references == {None, *(input_name(p) for p in (shared, alone, elsewhere, theirs))}

    again = await gov.forget_member(OTHER, 7)
    assert again.job_ids == [ids["mine, elsewhere"], ids["mine, same image there"]]
    assert again.inputs == sorted(str(input_name(p)) for p in (alone, elsewhere))
    nothing_left = await gov.forget_member(GUILD, 7)
    assert nothing_left == Forgotten(job_ids=[1, 3, 5], inputs=[])
