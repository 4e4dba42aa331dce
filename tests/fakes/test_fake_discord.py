"""The fake Discord against the real discord.py client: a minimal bot logs in, syncs, runs commands."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypedDict

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import (
    CHANNEL_MESSAGES_POST,
    EPHEMERAL,
    FOLLOWUP_POST,
    INTERACTION_CALLBACK,
    LOADING,
    MIB,
    FakeDiscord,
    FakeGuild,
    RecordedRequest,
    redirect_discord,
    running_bot,
)

# -- the bot under test -----------------------------------------------------------------------------------


class PressButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"press:(?P<job>\d+)"):
    """A persistent button whose custom_id carries a job id."""

    def __init__(self, job: int) -> None:
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label="Press", style=discord.ButtonStyle.primary, custom_id=f"press:{job}"
        )
        super().__init__(button)
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PressButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.edit_message(content=f"pressed {self.job}", view=None)


class AskModal(discord.ui.Modal, title="Describe it"):
    prompt: discord.ui.TextInput[AskModal] = discord.ui.TextInput(
        label="Prompt", custom_id="ask:prompt", max_length=200
    )

    def __init__(self) -> None:
        super().__init__(custom_id="ask-modal")

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(f"you said {self.prompt.value}", ephemeral=True)


@app_commands.command(name="upload", description="Post an attachment back into the channel")
async def upload(interaction: discord.Interaction[Any], text: str, file: discord.Attachment) -> None:
    await interaction.response.defer(thinking=True)
    data = await file.read()
    channel = interaction.channel
    assert isinstance(channel, discord.TextChannel)
    view = discord.ui.View(timeout=None)
    view.add_item(PressButton(7))
    try:
        await channel.send(
            content=text, file=discord.File(io.BytesIO(data), filename=file.filename), view=view
        )
    except discord.HTTPException as exc:
        await interaction.followup.send(f"upload failed: {exc.status}/{exc.code}")
        return
    await interaction.followup.send(f"posted {len(data)} bytes")


@app_commands.command(name="ask", description="Ask for a prompt in a modal")
async def ask(interaction: discord.Interaction[Any]) -> None:
    await interaction.response.send_modal(AskModal())


admin = app_commands.Group(name="sora-admin", description="Admin commands")
limits = app_commands.Group(name="limits", description="Usage limits", parent=admin)


@limits.command(name="show", description="Show the limits")
async def limits_show(interaction: discord.Interaction[Any]) -> None:
    await interaction.response.send_message("limits: none", ephemeral=True)


class FakeBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.home = discord.Object(guild_id)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pause: discord.py sleeps 5 s before every non-initial IDENTIFY (after op 9) by default."""

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PressButton)
        self.tree.add_command(upload, guild=self.home)
        self.tree.add_command(ask, guild=self.home)
        self.tree.add_command(admin, guild=self.home)
        await self.tree.sync(guild=self.home)


# -- fixtures ---------------------------------------------------------------------------------------------


class Where(TypedDict):
    guild_id: int
    channel_id: int
    user_id: int


@dataclass
class World:
    guild: FakeGuild
    channel_id: int
    user_id: int
    boosted: FakeGuild
    boosted_channel_id: int

    @property
    def where(self) -> Where:
        """Where alice runs commands: ``fake.slash(..., **world.where)``."""
        return Where(guild_id=self.guild.id, channel_id=self.channel_id, user_id=self.user_id)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    guild = fake.add_guild(name="home")
    channel_id = guild.add_channel("general")
    user_id = guild.add_member(name="alice")
    boosted = fake.add_guild(name="boosted", premium_tier=2)
    return World(guild, channel_id, user_id, boosted, boosted.add_channel("clips"))


@pytest.fixture
async def bot(fake: FakeDiscord, world: World) -> AsyncIterator[FakeBot]:
    client = FakeBot(world.guild.id)
    async with running_bot(fake, client):
        yield client


def text_channel(bot: FakeBot, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def for_token(token: str, route: str) -> Any:
    def predicate(rec: RecordedRequest) -> bool:
        return rec.route == route and rec.params.get("interaction_token") == token

    return predicate


async def run_upload(fake: FakeDiscord, world: World, payload: bytes, filename: str = "clip one.bin") -> str:
    inter = await fake.slash(
        "upload",
        [{"name": "text", "value": "hi @everyone"}, {"name": "file", "value": "att"}],
        guild_id=world.guild.id,
        channel_id=world.channel_id,
        user_id=world.user_id,
        attachments={"att": (filename, payload, "application/octet-stream")},
    )
    await fake.wait_for(for_token(inter.token, FOLLOWUP_POST))
    return inter.token


# -- tests ------------------------------------------------------------------------------------------------


async def test_login_identify_and_guild_sync(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    routes = [r.route for r in fake.requests]
    assert routes[:3] == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",
        "PUT /applications/{application_id}/guilds/{guild_id}/commands",
    ]
    assert all(r.headers["authorization"] == f"Bot {fake.bot_token}" for r in fake.requests)
    assert fake.command_syncs == 1
    assert fake.identify_count == 1
    assert sorted(c["name"] for c in fake.commands[world.guild.id]) == ["ask", "sora-admin", "upload"]
    assert bot.user is not None
    assert bot.user.id == fake.app_id
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    assert guild.default_role.id == guild.id
    assert guild.me is not None
    assert text_channel(bot, world.channel_id).name == "general"
    boosted = bot.get_guild(world.boosted.id)
    assert boosted is not None
    assert boosted.filesize_limit == 50 * MIB


async def test_login_with_a_wrong_token_fails(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.none())
    with redirect_discord(fake):
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
        await client.close()
    assert fake.requests[-1].status == 401
    assert discord.http.Route.BASE == "https://discord.com/api/v10"  # restored


async def test_slash_defer_followup_and_channel_upload(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    payload = bytes(range(256)) * 40
    token = await run_upload(fake, world, payload)

    sent = fake.interaction_responses(token)
    assert [r.route for r in sent] == [INTERACTION_CALLBACK, FOLLOWUP_POST]
    assert sent[0].json["type"] == 5
    # The first followup after a defer resolves the "thinking" message instead of adding one.
    original = fake.original(token)
    assert original is not None
    assert original["content"] == f"posted {len(payload)} bytes"
    assert not original["flags"] & LOADING
    assert fake.followups(token) == []

    post = fake.requests_for(CHANNEL_MESSAGES_POST)[-1]
    assert post.files == [("files[0]", "clip_one.bin", payload)]  # Discord-sanitised name, read from the CDN
    assert post.json["allowed_mentions"]["parse"] == []
    message = fake.messages[int(post.response["id"])]
    assert message["content"] == "hi @everyone"
    assert message["mention_everyone"] is False
    [attachment] = message["attachments"]
    assert attachment["size"] == len(payload)
    assert fake.attachment_bytes(attachment) == payload
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as resp:
        assert resp.status == 200
        assert await resp.read() == payload
    assert message["components"][0]["components"][0]["custom_id"] == "press:7"


async def test_dynamic_button_click_is_routed(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    await run_upload(fake, world, b"data")
    posted = int(fake.requests_for(CHANNEL_MESSAGES_POST)[-1].response["id"])

    inter = await fake.click("press:7", message_id=posted, user_id=world.user_id)
    callback = await fake.wait_for(for_token(inter.token, INTERACTION_CALLBACK))
    assert callback.json["type"] == 7
    assert fake.messages[posted]["content"] == "pressed 7"
    assert fake.messages[posted]["components"] == []

    # A message the fake never saw (e.g. posted before a restart) still routes through the template.
    stale = await fake.click(
        "press:41",
        message_id=fake.snowflake(),
        guild_id=world.guild.id,
        channel_id=world.channel_id,
        user_id=world.user_id,
    )
    await fake.wait_for(for_token(stale.token, INTERACTION_CALLBACK))
    assert fake.original(stale.token) is not None
    assert fake.original(stale.token)["content"] == "pressed 41"  # type: ignore[index]


async def test_subcommand_and_modal(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    where = world.where
    show = await fake.slash("sora-admin", subcommand=["limits", "show"], **where)
    await fake.wait_for(for_token(show.token, INTERACTION_CALLBACK))
    reply = fake.original(show.token)
    assert reply is not None
    assert reply["content"] == "limits: none"
    assert reply["flags"] & EPHEMERAL

    opened = await fake.slash("ask", **where)
    callback = await fake.wait_for(for_token(opened.token, INTERACTION_CALLBACK))
    assert callback.json["type"] == 9
    with pytest.raises(ValueError, match="no text inputs"):
        await fake.submit_modal("ask-modal", {"wrong": "x"})
    submitted = await fake.submit_modal("ask-modal", {"ask:prompt": "a cat"})
    await fake.wait_for(for_token(submitted.token, INTERACTION_CALLBACK))
    answer = fake.original(submitted.token)
    assert answer is not None
    assert answer["content"] == "you said a cat"


async def test_injected_faults_surface_as_discord_errors(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    channel = text_channel(bot, world.channel_id)

    fake.fail_next(CHANNEL_MESSAGES_POST, status=413, code=40005)
    with pytest.raises(discord.HTTPException) as too_big:
        await channel.send("x")
    assert (too_big.value.status, too_big.value.code) == (413, 40005)

    fake.fail_next(CHANNEL_MESSAGES_POST, status=403, code=50013)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("x")
    assert forbidden.value.code == 50013

    fake.fail_next("GET /channels/{channel_id}/messages/{message_id}", status=404, code=10008)
    with pytest.raises(discord.NotFound) as missing:
        await channel.fetch_message(fake.snowflake())
    assert missing.value.code == 10008

    # A 429 with `Via` and retry_after is waited out and retried by discord.py itself.
    start = fake.mark()
    fake.fail_next(CHANNEL_MESSAGES_POST, status=429, retry_after=0.05)
    sent = await channel.send("after the rate limit")
    assert [r.status for r in fake.requests[start:]] == [429, 200]
    assert fake.messages[sent.id]["content"] == "after the rate limit"


async def test_uploads_over_the_guild_limit_get_413(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    big = b"\0" * (10 * MIB + 1)
    token = await run_upload(fake, world, big)
    original = fake.original(token)
    assert original is not None
    assert original["content"] == "upload failed: 413/40005"
    assert fake.requests_for(CHANNEL_MESSAGES_POST)[-1].status == 413

    # A tier-2 guild takes 50 MiB per file.
    boosted = text_channel(bot, world.boosted_channel_id)
    message = await boosted.send(file=discord.File(io.BytesIO(big), filename="big.mp4"))
    assert message.attachments[0].size == len(big)
    assert message.attachments[0].content_type == "video/mp4"


async def test_nonce_deduplicates_a_retried_send(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    channel = text_channel(bot, world.channel_id)
    first = await channel.send("once", nonce=42)
    again = await channel.send("once", nonce=42)
    assert again.id == first.id

    # The answer is lost after the message was created: discord.py retries the 500 with the same nonce.
    start = fake.mark()
    fake.fail_next(CHANNEL_MESSAGES_POST, status=500, after_work=True)
    sent = await channel.send("lost answer")
    assert [r.status for r in fake.requests[start:]] == [500, 200]
    assert [m["id"] for m in fake.channel_messages(world.channel_id) if m["content"] == "lost answer"] == [
        str(sent.id)
    ]


async def test_gateway_drops_resume_and_reidentify(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    where = world.where

    await fake.drop_gateway()
    await fake.drop_gateway(reconnect_op=True)
    assert (fake.identify_count, fake.resume_count) == (1, 2)

    # Dispatched while the socket is down: replayed on RESUME, so the command still runs.
    await fake.drop_gateway(wait=False)
    missed = await fake.slash("sora-admin", subcommand=["limits", "show"], **where)
    await fake.wait_for(for_token(missed.token, INTERACTION_CALLBACK))
    assert fake.resume_count == 3

    await fake.drop_gateway(resume=False)
    assert fake.identify_count == 2
    token = await run_upload(fake, world, b"still here")
    assert fake.original(token) is not None


async def test_interaction_rules_are_refereed(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    where = world.where
    show = await fake.slash("sora-admin", subcommand=["limits", "show"], **where)
    await fake.wait_for(for_token(show.token, INTERACTION_CALLBACK))
    async with aiohttp.ClientSession() as session:
        url = f"{fake.api_base}/interactions/{show.id}/{show.token}/callback?with_response=1"
        async with session.post(url, json={"type": 4, "data": {"content": "twice"}}) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 40060

    with pytest.raises(ValueError, match="required options missing"):
        await fake.slash("upload", [{"name": "text", "value": "no file"}], **where)
    with pytest.raises(ValueError, match="no option"):
        await fake.slash("ask", [{"name": "bogus", "value": 1}], **where)


async def test_crashed_bot_is_surfaced(fake: FakeDiscord, world: World) -> None:
    with pytest.raises(RuntimeError, match="crashed") as crashed:
        async with running_bot(fake, FakeBot(world.guild.id)):
            # An interaction without `attachment_size_limit` kills discord.py's gateway reader.
            await fake.dispatch("INTERACTION_CREATE", {"id": "1", "type": 2, "token": "t", "version": 1})
            with pytest.raises(AssertionError, match="crashed"):
                await fake.wait_for(lambda _r: False, timeout=5)
    assert isinstance(crashed.value.__cause__, KeyError)
