"""Sharding: gateway processes that each run some of the shards (SHARD_COUNT / SHARD_IDS) against one fake
Discord. Discord sends a server's events only to shard ``(guild_id >> 22) % shard_count``, so each server's
commands must reach, and be answered by, the process that runs its shard."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import TestBot as GatewayBot  # aliased: pytest would try to collect a Test* class
from tests.e2e.conftest import World, all_jobs, until
from tests.fakes.discord import redirect_discord, running_bot, shard_of


@dataclass
class Place:
    """A guild on a known shard, with a channel and a member to run /video there."""

    guild_id: int
    channel_id: int
    user_id: int


def place_on_shard(world: World, shard: int, count: int, name: str) -> Place:
    """A new guild whose id falls on ``shard`` of ``count``, with a channel and a member."""
    snowflake = world.fake.snowflake()
    ms = (snowflake >> 22) + (shard - shard_of(snowflake, count)) % count
    guild = world.fake.add_guild((ms << 22) | (snowflake & 0x3FFFFF), name=name)
    assert shard_of(guild.id, count) == shard
    return Place(guild.id, guild.add_channel("clips"), guild.add_member(name=f"{name}-user"))


class Requests:
    """The URLs one bot's HTTP session requested (its interaction callbacks go through it too)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._started)

    async def _started(self, _session: Any, _context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        self.urls.append(str(params.url))

    def answered(self, token: str) -> bool:
        return any(f"/{token}/callback" in url for url in self.urls)


def gateway_bot(world: World, requests: Requests, **settings: Any) -> GatewayBot:
    # No dev guild: commands are global, so /video exists in every server.
    return GatewayBot(
        world.settings(dev_guild_id=None, **settings),
        role="gateway",
        guild_ready_timeout=0.05,
        http_trace=requests.trace,
    )


async def run_video(world: World, place: Place, prompt: str) -> str:
    """/video at ``place``, answered with a status embed (not an error text); returns its token."""
    token = await world.video(**asdict(place), prompt=prompt)
    await until(
        lambda: world.answer(token).get("embeds") or world.answer(token).get("content"), what="/video"
    )
    assert world.answer(token).get("embeds"), world.answer(token)
    return token


def shard_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("gateway shards")]


async def test_two_gateway_processes_each_answer_the_servers_on_their_shard(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.client")
    places = [place_on_shard(world, shard, 2, f"shard{shard}") for shard in (0, 1)]
    requests = [Requests(), Requests()]
    bots = [gateway_bot(world, requests[i], shard_count=2, shard_ids=[i]) for i in (0, 1)]
    received: list[list[int | None]] = [[], []]
    for i, bot in enumerate(bots):

        async def on_interaction(interaction: Any, i: int = i) -> None:
            received[i].append(interaction.guild_id)

        bot.add_listener(on_interaction, "on_interaction")

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running_bot(world.fake, bots[0]))
        # Only shard 0 is up: Discord has nowhere to send shard 1's interactions.
        with pytest.raises(RuntimeError, match="no gateway session for shard 1"):
            await world.video(**asdict(places[1]), prompt="nobody runs this shard yet")
        await stack.enter_async_context(running_bot(world.fake, bots[1]))

        tokens = [await run_video(world, places[i], f"a clip for the server on shard {i}") for i in (0, 1)]

        assert sorted(world.fake.identified_shards) == [(0, 2), (1, 2)]
        assert [(bot.shard_count, bot.shard_ids) for bot in bots] == [(2, [0]), (2, [1])]
        for i, bot in enumerate(bots):
            # Each process got only its shard's servers (READY/GUILD_CREATE) and interactions, and
            # the interaction callback went out through its own HTTP session.
            cached = {g.id for g in bot.guilds}
            assert places[i].guild_id in cached and places[1 - i].guild_id not in cached
            assert all(shard_of(gid, 2) == i for gid in cached)
            assert received[i] == [places[i].guild_id]
            assert requests[i].answered(tokens[i]) and not requests[i].answered(tokens[1 - i])
        jobs = await all_jobs(bots[0])  # one database for both gateways
        assert sorted(job.guild_id or 0 for job in jobs) == sorted(p.guild_id for p in places)
    assert sorted(shard_log_lines(caplog)) == ["gateway shards [0] of 2", "gateway shards [1] of 2"]


async def test_without_shard_settings_one_process_runs_every_shard_discord_recommends(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.client")
    world.fake.recommended_shards = 2
    places = [place_on_shard(world, shard, 2, f"shard{shard}") for shard in (0, 1)]
    requests = Requests()
    bot = gateway_bot(world, requests)
    async with running_bot(world.fake, bot):
        assert [r.route for r in world.fake.requests].count("GET /gateway/bot") == 1
        assert world.fake.identified_shards == [(0, 2), (1, 2)]
        assert world.fake.live_shards == [0, 1]
        assert bot.shard_count == 2
        for i, place in enumerate(places):
            assert bot.get_guild(place.guild_id) is not None
            assert requests.answered(await run_video(world, place, f"one process, shard {i}"))
    assert shard_log_lines(caplog) == ["gateway shards [0, 1] of 2"]


async def test_a_worker_logs_in_without_asking_for_shards_or_connecting(world: World) -> None:
    bot = GatewayBot(world.settings(shard_count=2, shard_ids=[1]), role="worker")
    with redirect_discord(world.fake):
        async with bot:
            await bot.login(world.fake.bot_token)
            assert bot.pipeline is not None  # setup_hook ran: the pipeline is open
    routes = {r.route for r in world.fake.requests}
    assert "GET /users/@me" in routes and "GET /gateway/bot" not in routes
    assert world.fake.identify_count == 0 and world.fake.gateway_connections == 0
