"""What the bot tells Discord about its commands (bounds, installs, contexts), and the interactions it refuses
because they did not come through the server's own installation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import pytest

from bot.moderation.prompt_rules import MAX_RULE_LENGTH
from tests.e2e.conftest import World, all_jobs, finished, until

# Discord's values (application command object): GUILD_INSTALL integration type, GUILD interaction context.
GUILD_INSTALL = 0
GUILD_CONTEXT = 0
# Prodia's prompt bounds (reference/prodia-v2-api.md): 3 to 4,096 characters.
PROMPT_MIN, PROMPT_MAX = 3, 4096


def string_options(options: list[dict[str, Any]], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for option in options:
        where = f"{path} {option['name']}"
        if option["type"] in (1, 2):
            yield from string_options(option.get("options") or [], where)
        elif option["type"] == 3:
            yield where, option


async def test_every_command_is_for_server_installs_in_servers_and_bounds_its_text(world: World) -> None:
    async with world.bot():
        commands = world.fake.commands[world.guild_id]
        assert {c["name"] for c in commands} >= {"video", "queue", "usage", "history", "show", "sora-admin"}
        for command in commands:
            assert command["integration_types"] == [GUILD_INSTALL], command["name"]
            assert command["contexts"] == [GUILD_CONTEXT], command["name"]
        texts = dict(
            item
            for command in commands
            for item in string_options(command.get("options") or [], command["name"])
        )
        [video] = [c for c in commands if c["name"] == "video"]
        [prompt] = [o for o in video["options"] if o["name"] == "prompt"]
        assert (prompt["min_length"], prompt["max_length"]) == (PROMPT_MIN, PROMPT_MAX)
        assert texts["sora-admin blocklist add pattern"]["max_length"] == MAX_RULE_LENGTH
        assert texts["sora-admin blocklist remove pattern"]["max_length"] == MAX_RULE_LENGTH
        for where, option in texts.items():
            assert option.get("choices") or option.get("max_length"), f"{where} has no bound"


async def test_a_prompt_past_4096_characters_is_refused_by_discords_client(world: World) -> None:
    async with world.bot() as bot:
        with pytest.raises(ValueError, match="longer than 4096"):
            await world.video(prompt="x" * 6000)
        with pytest.raises(ValueError, match="too short"):
            await world.video(prompt="ab")
        # The longest allowed, of many one-character lines, goes through.
        longest = ("a\n" * PROMPT_MAX)[: PROMPT_MAX - 1] + "b"
        assert len(longest) == PROMPT_MAX
        answer = await world.video_answer(prompt=longest)
        assert answer.get("embeds"), answer
        assert (await finished(bot, 1)).request.prompt == longest


def content_of(world: World, token: str) -> str:
    return str(world.answer(token).get("content") or "")


class Forged:
    """Sends interactions as Discord would, except for the installation that authorized them."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch, owners: Mapping[str, str]) -> None:
        original = world.fake.dispatch

        async def dispatch(event: str, data: dict[str, Any], **kwargs: Any) -> int:
            if event == "INTERACTION_CREATE":
                data["authorizing_integration_owners"] = dict(owners)
            return await original(event, data, **kwargs)

        monkeypatch.setattr(world.fake, "dispatch", dispatch)


@pytest.mark.parametrize(
    "owners",
    [
        pytest.param({"1": "user"}, id="a user install"),
        pytest.param({"0": "other-guild"}, id="another server's install"),
        pytest.param({}, id="no install"),
    ],
)
async def test_an_interaction_not_from_this_servers_install_is_refused_and_audited(
    world: World, monkeypatch: pytest.MonkeyPatch, owners: dict[str, str]
) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a clip made the normal way")
        await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        values = {"user": str(world.alice), "other-guild": str(world.fake.snowflake())}
        with monkeypatch.context() as patched:
            Forged(world, patched, {key: values.get(v, v) for key, v in owners.items()})
            command = await world.fake.slash(
                "video",
                [{"name": "prompt", "value": "spend someone else's money"}],
                guild_id=world.guild_id,
                channel_id=world.channel_id,
                user_id=world.alice,
            )
            button = await world.fake.click(
                "sora:reroll:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
            )
        for inter in (command, button):
            await until(partial(content_of, world, inter.token), what="the refusal")
            answer = world.answer(inter.token)
            assert "only works through a server that installed it" in answer["content"]
            assert answer["flags"] & 64  # only the member sees it
        assert len(await all_jobs(bot)) == 1
        refused = [
            e for e in await bot.governance.audit_entries(world.guild_id) if e.action == "interaction.refused"
        ]
        assert [e.actor_id for e in refused] == [world.alice, world.alice]
