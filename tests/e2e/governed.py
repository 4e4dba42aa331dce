"""What both governance table tests share: every member action the running bot offers, and how to tell that
an action made no work (no job, no Prodia request, no file, no public post) and was refused privately."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import discord

from bot.client import SoraBot
from bot.domain.models import JobState
from tests.e2e.conftest import World, all_jobs, kept_files, until
from tests.fakes.discord import CHANNEL_MESSAGES_POST, EPHEMERAL, FOLLOWUP_POST, LOADING, Interaction

DELETE_MESSAGE = "DELETE /channels/{channel_id}/messages/{message_id}"


def command_paths(definitions: list[dict[str, Any]]) -> set[str]:
    """Every runnable command as the member types it ("video", "sora-admin limits set"), from the
    definitions the bot synced to Discord."""

    def walk(option: dict[str, Any], path: str) -> Iterator[str]:
        subs = [o for o in option.get("options") or [] if o["type"] in (1, 2)]
        if not subs:
            yield path
        for sub in subs:
            yield from walk(sub, f"{path} {sub['name']}")

    return {path for command in definitions for path in walk(command, command["name"])}


def modal_classes() -> set[str]:
    """Every form class the loaded bot can show (discord.py keeps no registry: the subclasses)."""

    def walk(cls: type) -> Iterator[type]:
        sub: type
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return {c.__name__ for c in walk(discord.ui.Modal) if c.__module__.startswith(("bot.", "cogs."))}


def view_classes() -> set[str]:
    """Every view class of the bot's own, of either kind (View, LayoutView): each holds buttons of its own,
    outside the job buttons' ACTIONS."""

    def walk(cls: type) -> Iterator[type]:
        sub: type
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return {
        c.__name__
        for c in walk(discord.ui.view.BaseView)
        if c.__module__.startswith(("bot.", "cogs.")) and not issubclass(c, discord.ui.Modal)
    }


def dynamic_items(bot: SoraBot) -> set[str]:
    """The persistent button classes registered with the bot (matched by custom_id after a restart)."""
    store = bot._connection._view_store
    return {item.__name__ for item in store._dynamic_items.values()}


def public_posts(world: World) -> int:
    """Messages posted where others see them: bot-token posts, and followups that are not ephemeral."""
    followups = [
        r
        for r in world.fake.requests_for(FOLLOWUP_POST)
        if not (int((r.json or {}).get("flags") or 0) & EPHEMERAL)
    ]
    return len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) + len(followups)


@dataclass(frozen=True)
class Work:
    """What an action could have made or changed: jobs (with their states), Prodia submissions, files
    kept (stored, or in the working folder), public posts and message deletions."""

    jobs: tuple[tuple[int, JobState], ...]
    prodia_submissions: int
    files: frozenset[str]
    posts: int
    deletions: int

    @classmethod
    async def now(cls, world: World, bot: SoraBot) -> Work:
        jobs = tuple((j.id, j.state) for j in await all_jobs(bot))
        return cls(
            jobs=jobs,
            prodia_submissions=len([r for r in world.prodia.requests if r.method == "POST"]),
            files=frozenset(await kept_files(bot)),
            posts=public_posts(world),
            deletions=len(world.fake.requests_for(DELETE_MESSAGE)),
        )

    def changes(self, after: Work) -> list[str]:
        """What differs in `after`, in words (empty: nothing was made or changed)."""
        changed = []
        if after.jobs != self.jobs:
            changed.append(f"jobs {self.jobs} -> {after.jobs}")
        if after.prodia_submissions != self.prodia_submissions:
            changed.append(f"{after.prodia_submissions - self.prodia_submissions} Prodia submission(s)")
        if after.files != self.files:
            changed.append(f"files {sorted(after.files ^ self.files)}")
        if after.posts != self.posts:
            changed.append(f"{after.posts - self.posts} public post(s)")
        if after.deletions != self.deletions:
            changed.append(f"{after.deletions - self.deletions} message deletion(s)")
        return changed


async def settled(bot: SoraBot) -> None:
    """Until no job is on its way to Prodia (queued or submitting), so a snapshot stays still."""

    async def check() -> bool:
        moving = (JobState.QUEUED, JobState.SUBMITTING, JobState.DELIVERING)
        return not any(j.state in moving for j in await all_jobs(bot))

    await until(check, what="jobs to settle")


def answers(world: World, inter: Interaction) -> list[dict[str, Any]]:
    """The bot's messages answering `inter`: its response and followups (not the clicked message, which
    is "@original" after a deferred update)."""
    original = world.fake.original(inter.token)
    if original is not None and inter.original_message_id == inter.message_id:
        original = None
    return [m for m in [original, *world.fake.followups(inter.token)] if m]


def answer_text(world: World, inter: Interaction) -> str:
    return " ".join(str(m.get("content") or "") for m in answers(world, inter)).strip()


async def answered(world: World, inter: Interaction) -> str:
    """Wait until the bot answered `inter` with text, a status embed or a form; returns the text."""

    def done() -> bool:
        if inter.modal is not None or inter.response_type in (4, 7) or world.fake.followups(inter.token):
            return True
        # A deferred reply ("thinking"): done once the bot edited its placeholder.
        original = world.fake.original(inter.token)
        return bool(inter.response_type == 5 and original and not int(original["flags"]) & LOADING)

    await until(done, timeout=15, what=f"an answer to {inter.payload['data']}")
    return answer_text(world, inter)


def privately_refused(world: World, inter: Interaction) -> str | None:
    """Why `inter`'s answer is not a short private refusal (None: it is one)."""
    if inter.modal is not None:
        return f"showed a form {inter.modal.get('title')!r}"
    messages = answers(world, inter)
    if not messages:
        return "no answer"
    if any(not (int(m.get("flags") or 0) & EPHEMERAL) for m in messages):
        return f"a public answer {[m.get('content') for m in messages]}"
    if any(m.get("embeds") or m.get("attachments") or m.get("components") for m in messages):
        return f"more than a refusal: {messages}"
    text = answer_text(world, inter)
    if not text or len(text) > 300:
        return f"not a short message: {text!r}"
    return None
