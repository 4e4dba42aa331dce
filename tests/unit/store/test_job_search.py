"""The dashboard's search over a server's jobs: each filter narrows in SQL (on SQLite and PostgreSQL), newest
first, paged by id; a private job exists only for its owner."""

from __future__ import annotations

from typing import Any, cast

from bot.domain.models import JobRequest, JobState, Target
from bot.store.db import Database
from bot.store.job_queries import JobFilter
from bot.store.jobs import JobStore, NewJob

GUILD = 10
DAY = 86400.0
T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z


async def add(
    store: JobStore,
    prompt: str = "a quiet harbour at dawn",
    *,
    user_id: int = 1,
    guild_id: int = GUILD,
    private: bool = False,
    **request: Any,
) -> int:
    job = await store.create(
        NewJob(
            request=JobRequest.parse(prompt=prompt, **request),
            user_id=user_id,
            guild_id=guild_id,
            estimated_cost=0.4,
            target_kind="discord",
            target=cast(Target, {"kind": "discord", "private": private}),
        )
    )
    return job.id


async def ids(store: JobStore, found: JobFilter, *, viewer: int = 99, **paging: Any) -> list[int]:
    paging.setdefault("limit", 100)
    return [job.id for job in await store.search_jobs(GUILD, viewer, found, **paging)]


async def test_with_no_filter_it_lists_this_servers_jobs_newest_first(store: JobStore) -> None:
    here = [await add(store) for _ in range(3)]
    await add(store, guild_id=20)
    assert await ids(store, JobFilter()) == here[::-1]


async def test_member_state_and_model_each_narrow_the_list(store: JobStore) -> None:
    ann = await add(store, user_id=1)
    bob = await add(store, user_id=2)
    pro = await add(store, user_id=2, model="sora-2-pro", resolution="1080p")
    cancelled = await add(store, user_id=1)
    await store.transition(cancelled, JobState.CANCELLED)
    assert await ids(store, JobFilter(user_id=2)) == [pro, bob]
    assert await ids(store, JobFilter(user_id=3)) == []
    assert await ids(store, JobFilter(states={JobState.CANCELLED})) == [cancelled]
    assert await ids(store, JobFilter(states={JobState.CANCELLED, JobState.QUEUED})) == [
        cancelled,
        pro,
        bob,
        ann,
    ]
    assert await ids(store, JobFilter(model="sora-2-pro")) == [pro]
    assert await ids(store, JobFilter(model="sora-2")) == [cancelled, bob, ann]
    assert await ids(store, JobFilter(user_id=1, states={JobState.QUEUED}, model="sora-2")) == [ann]


async def test_an_image_to_video_job_counts_under_its_model(store: JobStore) -> None:
    image = await add(store, image_path="inputs/" + "a" * 32 + ".jpg")
    pro_image = await add(store, model="sora-2-pro", image_path="inputs/" + "b" * 32 + ".jpg")
    assert await ids(store, JobFilter(model="sora-2")) == [image]
    assert await ids(store, JobFilter(model="sora-2-pro")) == [pro_image]


async def test_dates_take_jobs_created_from_the_first_up_to_the_second(db: Database) -> None:
    now = [T0]
    store = JobStore(db, clock=lambda: now[0])
    made = {}
    for offset in (-DAY, -1.0, 0.0, DAY - 1, DAY):
        now[0] = T0 + offset
        made[offset] = await add(store)
    between = JobFilter(created_from=T0, created_before=T0 + DAY)
    assert await ids(store, between) == [made[DAY - 1], made[0.0]]
    assert await ids(store, JobFilter(created_from=T0 + DAY)) == [made[DAY]]
    assert await ids(store, JobFilter(created_before=T0)) == [made[-1.0], made[-DAY]]


async def test_text_is_found_in_the_prompt_in_any_case(store: JobStore) -> None:
    harbour = await add(store, "A Quiet HARBOUR at dawn")
    quoted = await add(store, 'she says "hello" twice\nthen waves')
    await add(store, "a mountain road")
    assert await ids(store, JobFilter(text="harbour")) == [harbour]
    assert await ids(store, JobFilter(text="quiet harbour AT")) == [harbour]
    assert await ids(store, JobFilter(text='"hello"')) == [quoted]  # a quote is \" in the stored JSON
    assert await ids(store, JobFilter(text="twice\nthen")) == [quoted]
    # Only the prompt is searched, not the rest of the stored request.
    assert await ids(store, JobFilter(text="duration")) == []
    assert await ids(store, JobFilter(text="prompt")) == []
    assert await ids(store, JobFilter(text="sora-2")) == []


async def test_percent_underscore_and_backslash_in_the_text_mean_themselves(store: JobStore) -> None:
    percent = await add(store, "100% cotton sails")
    await add(store, "1000 cotton sails")
    underscore = await add(store, "a snake_case river")
    await add(store, "a snakeXcase river")
    backslash = await add(store, "a path C:\\boats here")
    await add(store, "a path C:boats here")
    assert await ids(store, JobFilter(text="%")) == [percent]
    assert await ids(store, JobFilter(text="0% c")) == [percent]
    assert await ids(store, JobFilter(text="_")) == [underscore]
    assert await ids(store, JobFilter(text="e_c")) == [underscore]
    assert await ids(store, JobFilter(text="\\")) == [backslash]
    assert await ids(store, JobFilter(text=":\\b")) == [backslash]


async def test_pages_go_back_from_before_id_with_the_limit(store: JobStore) -> None:
    made = [await add(store) for _ in range(7)]
    newest_first = made[::-1]
    first = await ids(store, JobFilter(), limit=3)
    second = await ids(store, JobFilter(), limit=3, before_id=first[-1])
    third = await ids(store, JobFilter(), limit=3, before_id=second[-1])
    assert (first, second, third) == (newest_first[:3], newest_first[3:6], newest_first[6:])
    assert await ids(store, JobFilter(), limit=3, before_id=made[0]) == []


async def test_a_private_job_exists_only_for_its_owner(store: JobStore) -> None:
    public = await add(store, "a public secret garden", user_id=1)
    private = await add(store, "a private secret garden", user_id=1, private=True)
    # Text that merely looks like the flag, inside the prompt, hides nothing.
    lookalike = await add(store, 'a "private": true garden', user_id=2)
    for found in (
        JobFilter(),
        JobFilter(text="secret"),
        JobFilter(text="private secret"),
        JobFilter(user_id=1),
        JobFilter(states={JobState.QUEUED}, model="sora-2"),
    ):
        seen_by_others = await ids(store, found, viewer=2)
        assert private not in seen_by_others
        assert private in await ids(store, found, viewer=1)
    assert await ids(store, JobFilter(), viewer=2) == [lookalike, public]
    assert await ids(store, JobFilter(), viewer=1) == [lookalike, private, public]
    assert await ids(store, JobFilter(text="private secret"), viewer=2) == []
