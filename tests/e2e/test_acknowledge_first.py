"""Every command and every button that opens no form acknowledges before it touches the database (issue 16):
the defer is the handler's first await, so a busy database (or a slow one) never costs a member Discord's 3 s.

Each database statement is recorded with the task that made it; a statement made by an interaction's handler
task (discord.py names them) before the fake Discord saw that interaction's callback is a failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.store.db.sqlite import SQLiteConn
from tests.e2e.conftest import World, all_jobs, finished, until
from tests.e2e.test_governance import approval_messages
from tests.fakes.discord import INTERACTION_CALLBACK
from tests.fakes.discord.records import Interaction

# The tasks discord.py runs an interaction's handlers in (app commands; views, dynamic items and modals).
HANDLER_TASKS = ("CommandTree-invoker", "discord-ui-")


class Statements:
    """When each database statement ran, and in which task."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("fetch_all", "execute", "execute_many"):
            original = getattr(SQLiteConn, name)
            monkeypatch.setattr(SQLiteConn, name, self._recording(original))

    def _recording(self, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def recorded(conn: SQLiteConn, *args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            self.seen.append((time.monotonic(), task.get_name() if task else ""))
            return await original(conn, *args, **kwargs)

        return recorded

    def by_handlers_between(self, start: float, end: float) -> list[tuple[float, str]]:
        return [(at, name) for at, name in self.seen if start <= at < end and name.startswith(HANDLER_TASKS)]


async def acknowledged_first(world: World, statements: Statements, interaction: Interaction) -> None:
    token = interaction.token

    def callback() -> Any:
        found = [
            r for r in world.fake.requests_for(INTERACTION_CALLBACK) if r.params["interaction_token"] == token
        ]
        return found[0] if found and found[0].status else None

    answered = await until(callback, what="the interaction's callback")
    assert answered.json["type"] in (5, 6), answered.json  # a deferral, not an answer made after work
    early = statements.by_handlers_between(interaction.created_at, answered.at)
    assert early == [], f"database statements before the defer: {early}"
    await until(lambda: world.fake.followups(token) or world.fake.original(token), what="its answer")


async def test_buttons_and_admin_commands_defer_before_any_database_statement(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = Statements()
    statements.install(monkeypatch)
    async with world.bot() as bot:
        await world.video(prompt="a clip whose buttons are pressed")
        assert (await finished(bot, 1)).state.value == "delivered"
        [posted] = await until(world.clips, what="the clip")
        world.prodia.processing_seconds = 30.0  # the new jobs stay cancellable
        for action in ("reroll", "flip", "delete"):
            pressed = await world.fake.click(
                f"sora:{action}:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
            )
            await acknowledged_first(world, statements, pressed)
        rerolled = await until(lambda: _with_status(bot, 2), what="the re-roll's status message")
        cancel = await world.fake.click(
            "sora:cancel:2", message_id=rerolled.message_id, user_id=world.alice, guild_id=world.guild_id
        )
        await acknowledged_first(world, statements, cancel)

        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(world.bob, prompt="a request a moderator approves")
        request = (await until(lambda: approval_messages(world), what="the approval request"))[-1]
        job_id = max(job.id for job in await all_jobs(bot))
        approve = await world.fake.click(
            f"sora:approve:{job_id}", message_id=int(request["id"]), user_id=world.mod
        )
        await acknowledged_first(world, statements, approve)

        for path, options in (
            (("limits", "show"), {}),
            (("limits", "set"), {"jobs_per_hour": 7}),
            (("blocklist", "add"), {"pattern": "dragon"}),
            (("user", "strikes"), {"member": world.alice}),
            (("usage",), {"days": 3}),
            (("export",), {}),
        ):
            command = await world.fake.slash(
                "sora-admin",
                [{"name": k, "value": v} for k, v in options.items()],
                subcommand=list(path),
                guild_id=world.guild_id,
                channel_id=world.channel_id,
                user_id=world.admin,
            )
            await acknowledged_first(world, statements, command)
        # The handlers did use the database (after their defers): the checks above could have failed.
        assert len(statements.by_handlers_between(0, time.monotonic())) > 20


async def _with_status(bot: Any, job_id: int) -> Any:
    job = await bot.pipeline.store.get(job_id)
    return job if job is not None and job.message_id is not None else None
