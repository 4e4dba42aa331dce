"""Replies built from lists stay within Discord's limits at their worst: long multi-line prompts, 50 jobs,
100 of the longest blocklist patterns, 25 role rules, many channels and members. Each answer is readable
(content present, at most 2,000 characters), paging buttons turn the pages, and the fake refuses nothing."""

from __future__ import annotations

import copy
import re
from typing import Any

from bot.client import SoraBot
from bot.domain.limits import LimitRule
from bot.domain.models import JobRequest, JobState
from bot.moderation.prompt_rules import MAX_RULE_LENGTH, check_rule
from bot.store.jobs import NewJob
from bot.ui.embeds import escape
from tests.e2e.conftest import World, finished, until
from tests.fakes.discord import EPHEMERAL, FakeDiscord

CONTENT_LIMIT = 2000  # Discord's limit on a message's content
PAGE = re.compile(r"Page (\d+) of (\d+)$")


def refusals(fake: FakeDiscord) -> list[str]:
    """The bot's requests that the fake answered with a 4xx."""
    return [f"{r.method} {r.path} -> {r.status} {r.response}" for r in fake.requests if 400 <= r.status < 500]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row["components"]]


def custom_id(message: dict[str, Any], label: str) -> str:
    [found] = [c["custom_id"] for c in buttons(message) if c.get("label") == label]
    return str(found)


def readable(message: dict[str, Any]) -> str:
    """The message's content, checked to be private, present and within the limit."""
    assert message["flags"] & EPHEMERAL
    content = str(message.get("content") or "")
    assert content.strip(), f"an empty answer: {message}"
    assert len(content) <= CONTENT_LIMIT
    return content


async def all_pages(world: World, token: str, user_id: int) -> list[str]:
    """Every page of a paged answer, turned with Next, then back to the previous one."""
    return [str(m["content"]) for m in await all_page_messages(world, token, user_id)]


async def all_page_messages(world: World, token: str, user_id: int) -> list[dict[str, Any]]:
    """Every page of a paged answer as the message showed it, turned with Next; then Previous works too."""
    message = world.answer(token)
    first = readable(message)
    match = PAGE.search(first)
    assert match, f"not paged: {first[-200:]}"
    count = int(match[2])
    assert match[1] == "1" and count > 1
    pages = [copy.deepcopy(message)]
    for number in range(2, count + 1):
        await world.fake.click(custom_id(message, "Next"), message_id=int(message["id"]), user_id=user_id)
        await until(
            lambda n=number: f"Page {n} of {count}" in world.answer(token)["content"],  # type: ignore[misc]
            what=f"page {number}",
        )
        message = world.answer(token)
        readable(message)
        pages.append(copy.deepcopy(message))
    [next_button] = [c for c in buttons(message) if c.get("label") == "Next"]
    assert next_button.get("disabled")  # the last page
    await world.fake.click(custom_id(message, "Previous"), message_id=int(message["id"]), user_id=user_id)
    await until(lambda: f"Page {count - 1} of {count}" in world.answer(token)["content"], what="back")
    return pages


def multiline_prompt(mention: int) -> str:
    """A prompt of the greatest length, one or two characters a line, full of markdown and mentions."""
    pieces = ["*", "_", "~", "`", "|", ">", "#", "[", "](", "@", f"<@{mention}>", "@everyone", "x", "-"]
    lines: list[str] = []
    while len("\n".join(lines)) < 4096:
        lines.append(pieces[len(lines) % len(pieces)])
    return "\n".join(lines)[:4096].strip()


async def seed_job(
    bot: SoraBot,
    world: World,
    *,
    user_id: int,
    guild_id: int | None = None,
    prompt: str = "a seeded clip",
    state: JobState = JobState.QUEUED,
    private: bool = False,
) -> int:
    job = await bot.pipeline.store.create(
        NewJob(
            request=JobRequest(prompt=prompt),
            user_id=user_id,
            estimated_cost=0.4,
            target_kind="discord",
            target={"kind": "discord", "channel_id": world.channel_id, "private": private},
            guild_id=guild_id or world.guild_id,
            channel_id=world.channel_id,
            state=state,
        )
    )
    return job.id


async def test_history_of_the_longest_multiline_prompts_pages_within_the_limit(world: World) -> None:
    prompt = multiline_prompt(world.bob)
    assert len(prompt) > 4000 and prompt.count("\n") > 900
    async with world.bot(max_concurrent_jobs=4) as bot:
        for _ in range(12):
            token = await world.video(prompt=prompt)
            await until(lambda t=token: world.answer(t).get("embeds"), what="the job's status")  # type: ignore[misc]
        for job_id in range(1, 13):
            assert (await finished(bot, job_id)).state is JobState.DELIVERED
        pages = await all_pages(world, await world.command("history", world.alice), world.alice)
        shown = [int(n) for page in pages for n in re.findall(r"\*\*Job (\d+)\*\*", page)]
        assert shown == list(range(12, 0, -1))  # every clip once, newest first
        assert all(page.startswith(f"Recent clips by <@{world.alice}>:\n") for page in pages)
        assert all(page.count("[clip](https://discord.com/channels/") >= 1 for page in pages)
    assert refusals(world.fake) == []


async def test_queue_of_50_jobs_pages_with_at_most_20_cancel_buttons_a_page(world: World) -> None:
    world.prodia.processing_seconds = 600.0
    async with world.bot(max_concurrent_jobs=1, default_concurrent_jobs=60) as bot:
        # Short prompts first (a page then holds 20 jobs, as many as four rows of buttons), then long ones
        # full of markdown (a page then fills up with characters first).
        for i in range(50):
            prompt = f"clip {i}" if i < 20 else f"queued **clip** {i} " + "_x_ " * 30
            await seed_job(bot, world, user_id=world.alice, prompt=prompt)
        await until(lambda: _one_running(bot), what="job 1 at Prodia")
        token = await world.command("queue", world.alice)
        pages = await all_page_messages(world, token, world.alice)
        shown = [int(n) for page in pages for n in re.findall(r"\*\*Job (\d+)\*\*", page["content"])]
        assert shown == list(range(1, 51))
        for page in pages:
            # One job went to Prodia; the rest wait.
            assert "49 jobs waiting in this server's queue" in page["content"]
            # Each job shown has its own Cancel button; the last row turns the pages.
            jobs = re.findall(r"\*\*Job (\d+)\*\*", page["content"])
            rows = page["components"]
            assert len(rows) <= 5 and all(len(row["components"]) <= 5 for row in rows)
            assert [c["label"] for c in rows[-1]["components"]] == ["Previous", "Next"]
            ids = [c["custom_id"] for c in buttons(page)]
            assert ids[:-2] == [f"sora:cancel:{n}" for n in jobs]
            assert len(ids) == len(set(ids)) and all(len(i) <= 100 for i in ids)
        first = pages[0]["components"]
        assert len(first) == 5 and all(len(row["components"]) == 5 for row in first[:4])

        # Back on the second-to-last page: a Cancel there cancels that job.
        message = world.answer(token)
        assert f"Page {len(pages) - 1} of {len(pages)}" in message["content"]
        job_id = int(re.findall(r"\*\*Job (\d+)\*\*", message["content"])[-1])
        await world.fake.click(f"sora:cancel:{job_id}", message_id=int(message["id"]), user_id=world.alice)
        assert (await finished(bot, job_id)).state is JobState.CANCELLED

        # Someone else's press is refused, and the page stays as it was.
        press = await world.fake.click(
            custom_id(message, "Next"), message_id=int(message["id"]), user_id=world.bob
        )
        await until(lambda: world.fake.original(press.token), what="the refusal")
        assert "belong to the member who asked" in (world.fake.original(press.token) or {})["content"]
        assert f"Page {len(pages) - 1} of" in world.answer(token)["content"]
    assert refusals(world.fake) == []


async def test_blocklist_of_100_longest_patterns_pages(world: World) -> None:
    async with world.bot() as bot:
        patterns = []
        for i in range(100):
            text = f"w{i:03d}" + "*_`~|[x](y)" * MAX_RULE_LENGTH
            rule = check_rule(text[:MAX_RULE_LENGTH], False)
            assert len(rule.pattern) == MAX_RULE_LENGTH
            patterns.append(rule.pattern)
            await bot.governance.add_block_rule(world.guild_id, rule.pattern, False, world.admin)
        token = await world.admin_command("blocklist", "list")
        pages = await all_pages(world, token, world.admin)
        shown = [int(n) for page in pages for n in re.findall(r"word: w(\d{3})", page)]
        assert shown == list(range(100))
        # Shown as written, markdown escaped (no code span: a backtick in a pattern would end it), every
        # masked link broken (escape_markdown breaks only a line's first).
        text = "\n".join(pages)
        assert all(f"word: {escape(p)}\n" in text + "\n" for p in patterns)
    assert refusals(world.fake) == []


async def test_limits_show_with_25_role_rules_and_user_rules_pages(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    roles = [guild.add_role(f"tier {i}") for i in range(25)]
    members = world.add_members(30)
    async with world.bot() as bot:
        for target, scope in [*((r, "role") for r in roles), *((m, "user") for m in members)]:
            await bot.governance.set_limit_rule(
                world.guild_id,
                LimitRule(scope, target, jobs_per_hour=10_000, video_seconds_per_day=1_000_000,  # type: ignore[arg-type]
                          concurrent=100, pro=True, hd=False),
            )  # fmt: skip
        token = await world.admin_command("limits", "show")
        pages = await all_pages(world, token, world.admin)
        text = "\n".join(pages)
        assert all(f"<@&{r}>: jobs per hour 10000" in text for r in roles)
        assert all(f"<@{m}>: jobs per hour 10000" in text for m in members)
        assert pages[0].startswith("Bot defaults:")
    assert refusals(world.fake) == []


async def test_channels_and_roles_lists_are_cut_with_a_count_of_the_rest(world: World) -> None:
    async with world.bot() as bot:
        for n in range(300):
            await bot.governance.set_allowed(world.guild_id, "channels", 10**18 + n, True)
            await bot.governance.set_allowed(world.guild_id, "roles", 2 * 10**18 + n, True)
        for kind, mention in (("channels", "<#"), ("roles", "<@&")):
            text = readable(world.answer(await world.admin_command(kind, "list")))
            shown = text.count(mention)
            assert 0 < shown < 300
            assert text.endswith(f"…and {300 - shown} more.")
    assert refusals(world.fake) == []


async def test_admin_usage_with_many_members_is_cut_with_a_count_of_the_rest(world: World) -> None:
    members = world.add_members(150)
    async with world.bot() as bot:
        for member in members:
            await seed_job(bot, world, user_id=member, state=JobState.AWAITING_APPROVAL)
        token = await world.admin_command("usage", days=7)
        message = world.answer(token)
        text = readable(message)
        assert text.startswith("Last 7 days: 150 jobs")
        shown = text.count("<@")
        assert 0 < shown < 150 and text.endswith(f"…and {150 - shown} more.")
        assert message["attachments"][0]["filename"] == "spend.png"
    assert refusals(world.fake) == []


async def _one_running(bot: SoraBot) -> bool:
    return bool(await bot.pipeline.store.list_jobs(states=[JobState.RUNNING]))
