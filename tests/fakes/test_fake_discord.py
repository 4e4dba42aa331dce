"""The fake Discord against the real discord.py client: a minimal bot logs in, syncs, runs commands."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Awaitable, Iterator
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
    MENTION_EVERYONE,
    MIB,
    FakeDiscord,
    FakeGuild,
    RecordedRequest,
    _modal_problems,
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


class GrabButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"grab:(?P<n>\d+)"):
    """A button whose click the test answers itself (see `grabbed`)."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label="Grab", custom_id=f"grab:{n}"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> GrabButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = interaction.client
        assert isinstance(bot, FakeBot)
        bot.grabbed[interaction.id] = interaction


class AskButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"ask:(?P<n>\d+)"):
    """A button that opens `AskModal`."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label="Ask", custom_id=f"ask:{n}"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AskButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(AskModal())


@app_commands.command(name="grab", description="Leave the interaction to the test")
async def grab(interaction: discord.Interaction[Any]) -> None:
    bot = interaction.client
    assert isinstance(bot, FakeBot)
    bot.grabbed[interaction.id] = interaction


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
        self.grabbed: dict[int, discord.Interaction[Any]] = {}  # interactions left to the test, by id

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pause: discord.py sleeps 5 s before every non-initial IDENTIFY (after op 9) by default."""

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PressButton, GrabButton, AskButton)
        self.tree.add_command(grab, guild=self.home)
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
    assert sorted(c["name"] for c in fake.commands[world.guild.id]) == ["ask", "grab", "sora-admin", "upload"]
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


# -- Discord's limits: each refusal, and the largest body still accepted ----------------------------------


async def post_message(fake: FakeDiscord, channel_id: int, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a message body with the bot token, as discord.py would; (status, JSON answer)."""
    url = f"{fake.api_base}/channels/{channel_id}/messages"
    headers = {"Authorization": f"Bot {fake.bot_token}"}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def put_commands(fake: FakeDiscord, guild_id: int, commands: list[dict[str, Any]]) -> tuple[int, Any]:
    url = f"{fake.api_base}/applications/{fake.app_id}/guilds/{guild_id}/commands"
    headers = {"Authorization": f"Bot {fake.bot_token}"}
    async with aiohttp.ClientSession() as session, session.put(url, json=commands, headers=headers) as resp:
        return resp.status, await resp.json()


def error_paths(answer: Any) -> set[str]:
    """The dotted paths of Discord's nested ``errors`` tree (``embeds.0.title``)."""

    def walk(node: dict[str, Any], prefix: str) -> Iterator[str]:
        for key, child in node.items():
            if key == "_errors":
                yield prefix
            elif isinstance(child, dict):
                yield from walk(child, f"{prefix}.{key}" if prefix else key)

    return set(walk(answer.get("errors", {}), ""))


def button(custom_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "b", "custom_id": custom_id, **extra}


def link_button(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 5, "label": "Full quality", "url": url, **extra}


def rows(count: int, per_row: int) -> list[dict[str, Any]]:
    return [{"type": 1, "components": [button(f"r{r}b{b}") for b in range(per_row)]} for r in range(count)]


def select(options: int, **extra: Any) -> list[dict[str, Any]]:
    opts = [{"label": f"o{k}", "value": f"v{k}"} for k in range(options)]
    return [{"type": 1, "components": [{"type": 3, "custom_id": "pick", "options": opts, **extra}]}]


def embed_of(**fields: Any) -> dict[str, Any]:
    return {"type": "rich", **fields}


def field(name: str = "n", value: str = "v") -> dict[str, Any]:
    return {"name": name, "value": value, "inline": False}


# (what, refused body, error path, the largest accepted body)
MESSAGE_LIMITS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("content 2000", {"content": "x" * 2001}, "content", {"content": "x" * 2000}),
    (
        "10 embeds",
        {"embeds": [embed_of(title="t")] * 11},
        "embeds",
        {"embeds": [embed_of(title="t")] * 10},
    ),
    (
        "title 256",
        {"embeds": [embed_of(title="t" * 257)]},
        "embeds.0.title",
        {"embeds": [embed_of(title="t" * 256)]},
    ),
    (
        "description 4096",
        {"embeds": [embed_of(description="d" * 4097)]},
        "embeds.0.description",
        {"embeds": [embed_of(description="d" * 4096 + " \n ")]},  # trimmed whitespace does not count
    ),
    (
        "25 fields",
        {"embeds": [embed_of(fields=[field()] * 26)]},
        "embeds.0.fields",
        {"embeds": [embed_of(fields=[field()] * 25)]},
    ),
    (
        "field name 1-256",
        {"embeds": [embed_of(fields=[field(name="n" * 257)])]},
        "embeds.0.fields.0.name",
        {"embeds": [embed_of(fields=[field(name="n" * 256)])]},
    ),
    (
        "field name not empty",
        {"embeds": [embed_of(fields=[field(name="")])]},
        "embeds.0.fields.0.name",
        {"embeds": [embed_of(fields=[field(name="\u200b")])]},  # the usual "blank" name is a character
    ),
    (
        "field name not blank",
        {"embeds": [embed_of(fields=[field(name="  \n")])]},
        "embeds.0.fields.0.name",
        {"embeds": [embed_of(fields=[field(name=".")])]},
    ),
    (
        "field value 1-1024",
        {"embeds": [embed_of(fields=[field(value="v" * 1025)])]},
        "embeds.0.fields.0.value",
        {"embeds": [embed_of(fields=[field(value="v" * 1024)])]},
    ),
    (
        "field value not empty",
        {"embeds": [embed_of(fields=[field(value="")])]},
        "embeds.0.fields.0.value",
        {"embeds": [embed_of(fields=[field(value="v")])]},
    ),
    (
        "field value required",
        {"embeds": [embed_of(fields=[{"name": "n"}])]},
        "embeds.0.fields.0.value",
        {"embeds": [embed_of(fields=[field()])]},
    ),
    (
        "footer 2048",
        {"embeds": [embed_of(footer={"text": "f" * 2049})]},
        "embeds.0.footer.text",
        {"embeds": [embed_of(footer={"text": "f" * 2048})]},
    ),
    (
        "author name 256",
        {"embeds": [embed_of(author={"name": "a" * 257})]},
        "embeds.0.author.name",
        {"embeds": [embed_of(author={"name": "a" * 256})]},
    ),
    (
        "6000 for all embeds: title, description, fields, footer and author all count",
        {
            "embeds": [
                embed_of(
                    title="t" * 256,
                    description="d" * 4096,
                    fields=[field("n" * 256, "v" * 1024)],
                    footer={"text": "f" * 200},
                ),
                embed_of(author={"name": "a" * 169}),
            ]
        },
        "embeds",
        {
            "embeds": [
                embed_of(
                    title="t" * 256,
                    description="d" * 4096,
                    fields=[field("n" * 256, "v" * 1024)],
                    footer={"text": "f" * 200},
                ),
                embed_of(author={"name": "a" * 168}),
            ]
        },
    ),
    (
        "embed url is http(s)",
        {"embeds": [embed_of(title="t", url="ftp://example.com/x")]},
        "embeds.0.url",
        {"embeds": [embed_of(title="t", url="https://example.com/" + "x" * 2028)]},
    ),
    (
        "image url is http(s) or attachment://",
        {"embeds": [embed_of(image={"url": "file:///etc/passwd"})]},
        "embeds.0.image.url",
        {"embeds": [embed_of(image={"url": "attachment://clip.png"})]},
    ),
    (
        "color 0-0xFFFFFF",
        {"embeds": [embed_of(title="t", color=0x1000000)]},
        "embeds.0.color",
        {"embeds": [embed_of(title="t", color=0xFFFFFF)]},
    ),
    (
        "allowed_mentions: parse users and a users list are exclusive",
        {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
        "allowed_mentions",
        {"content": "hi", "allowed_mentions": {"parse": ["roles", "everyone"], "users": ["1"]}},
    ),
    (
        "allowed_mentions: known parse types",
        {"content": "hi", "allowed_mentions": {"parse": ["channels"]}},
        "allowed_mentions.parse",
        {"content": "hi", "allowed_mentions": {"parse": []}},
    ),
    (
        "allowed_mentions: 100 users",
        {"content": "hi", "allowed_mentions": {"users": [str(i) for i in range(101)]}},
        "allowed_mentions.users",
        {"content": "hi", "allowed_mentions": {"users": [str(i) for i in range(100)]}},
    ),
    ("5 action rows", {"components": rows(6, 1)}, "components", {"components": rows(5, 5)}),
    (
        "5 buttons a row",
        {"components": rows(1, 6)},
        "components.0.components",
        {"components": rows(1, 5)},
    ),
    (
        "button label 80",
        {"components": [{"type": 1, "components": [button("a", label="l" * 81)]}]},
        "components.0.components.0.label",
        {"components": [{"type": 1, "components": [button("a", label="l" * 80)]}]},
    ),
    (
        "custom_id at most 100",
        {"components": [{"type": 1, "components": [button("c" * 101)]}]},
        "components.0.components.0.custom_id",
        {"components": [{"type": 1, "components": [button("c" * 100)]}]},
    ),
    (
        "custom_id not empty",
        {"components": [{"type": 1, "components": [button("")]}]},
        "components.0.components.0.custom_id",
        {"components": [{"type": 1, "components": [button("c")]}]},
    ),
    (
        "custom_ids unique",
        {"components": [{"type": 1, "components": [button("same"), button("same")]}]},
        "components.0.components.1.custom_id",
        {"components": [{"type": 1, "components": [button("one"), button("two")]}]},
    ),
    (
        "link button: a url of at most 512, no custom_id",
        {
            "components": [
                {"type": 1, "components": [{"type": 2, "style": 5, "url": "https://x/" + "u" * 503}]}
            ]
        },
        "components.0.components.0.url",
        {
            "components": [
                {"type": 1, "components": [{"type": 2, "style": 5, "url": "https://x/" + "u" * 502}]}
            ]
        },
    ),
    (
        "link button: a url is required",
        {"components": [{"type": 1, "components": [{"type": 2, "style": 5, "label": "Full quality"}]}]},
        "components.0.components.0.url",
        {"components": [{"type": 1, "components": [link_button("https://example.com/1.mp4")]}]},
    ),
    (
        "link button: no custom_id",
        {
            "components": [
                {"type": 1, "components": [link_button("https://example.com/1.mp4", custom_id="sora:x:1")]}
            ]
        },
        "components.0.components.0.custom_id",
        {"components": [{"type": 1, "components": [link_button("discord://-/channels/1/2")]}]},
    ),
    (
        "link button: the url is http(s) or discord://",
        {"components": [{"type": 1, "components": [link_button("file:///data/clips/1.mp4")]}]},
        "components.0.components.0.url",
        {"components": [{"type": 1, "components": [link_button("http://127.0.0.1:8080/clips/1.mp4")]}]},
    ),
    (
        "link button: a url of 512 with a label, beside the other buttons",
        {"components": [{"type": 1, "components": [button("a"), link_button("https://x/" + "u" * 503)]}]},
        "components.0.components.1.url",
        {"components": [{"type": 1, "components": [button("a"), link_button("https://x/" + "u" * 502)]}]},
    ),
    (
        "25 select options",
        {"components": select(26)},
        "components.0.components.0.options",
        {"components": select(25, max_values=25)},
    ),
    (
        "select option label 1-100",
        {
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 3, "custom_id": "s", "options": [{"label": "l" * 101, "value": "v"}]}
                    ],
                }
            ]
        },
        "components.0.components.0.options.0.label",
        {
            "components": [
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 3,
                            "custom_id": "s",
                            "options": [{"label": "l" * 100, "value": "v" * 100, "description": "d" * 100}],
                        }
                    ],
                }
            ]
        },
    ),
    (
        "select placeholder 150",
        {"components": select(1, placeholder="p" * 151)},
        "components.0.components.0.placeholder",
        {"components": select(1, placeholder="p" * 150)},
    ),
    (
        "select max_values within the options",
        {"components": select(2, max_values=3)},
        "components.0.components.0.max_values",
        {"components": select(2, min_values=0, max_values=2)},
    ),
    (
        "a select menu fills its row",
        {"components": [{"type": 1, "components": [button("b"), *select(1)[0]["components"]]}]},
        "components.0.components",
        {"components": [*select(1), {"type": 1, "components": [button("b")]}]},
    ),
]


@pytest.mark.parametrize(
    ("what", "refused", "path", "largest"), MESSAGE_LIMITS, ids=[m[0] for m in MESSAGE_LIMITS]
)
async def test_message_limits(
    fake: FakeDiscord, world: World, what: str, refused: dict[str, Any], path: str, largest: dict[str, Any]
) -> None:
    status, answer = await post_message(fake, world.channel_id, refused)
    assert (status, answer["code"]) == (400, 50035), what
    assert path in error_paths(answer), answer
    status, answer = await post_message(fake, world.channel_id, largest)
    assert status == 200, answer


def text_input(**extra: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": "prompt", "style": 2, "label": "Prompt", **extra}


def modal(*components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "custom_id": "m",
        "title": "Remix",
        "components": list(components) or [{"type": 1, "components": [text_input()]}],
        **extra,
    }


def in_row(**extra: Any) -> dict[str, Any]:
    return {"type": 1, "components": [text_input(**extra)]}


def in_label(label: str = "Prompt", **extra: Any) -> dict[str, Any]:
    child = {"type": 4, "custom_id": "prompt", "style": 2, **extra}
    return {"type": 18, "label": label, "component": child}


# (what, refused modal, error path, the largest accepted modal)
MODAL_LIMITS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("title 1-45", modal(title="t" * 46), "data.title", modal(title="t" * 45)),
    ("title not empty", modal(title=""), "data.title", modal(title="t")),
    ("custom_id 1-100", modal(custom_id="c" * 101), "data.custom_id", modal(custom_id="c" * 100)),
    (
        "5 components",
        modal(*[in_row(custom_id=f"i{k}") for k in range(6)]),
        "data.components",
        modal(*[in_row(custom_id=f"i{k}") for k in range(5)]),
    ),
    (
        "text input label 1-45",
        modal(in_row(label="l" * 46)),
        "data.components.0.components.0.label",
        modal(in_row(label="l" * 45)),
    ),
    (
        "a text input in a row needs its label",
        modal({"type": 1, "components": [{"type": 4, "custom_id": "p", "style": 1}]}),
        "data.components.0.components.0.label",
        modal(in_label()),  # a Label component carries it instead
    ),
    ("label 1-45", modal(in_label("l" * 46)), "data.components.0.label", modal(in_label("l" * 45))),
    (
        "value 4000",
        modal(in_row(value="v" * 4001)),
        "data.components.0.components.0.value",
        modal(in_row(value="v" * 4000)),
    ),
    (
        "placeholder 100",
        modal(in_label(placeholder="p" * 101)),
        "data.components.0.component.placeholder",
        modal(in_label(placeholder="p" * 100)),
    ),
    (
        "min_length 0-4000",
        modal(in_row(min_length=4001, max_length=4000)),
        "data.components.0.components.0.min_length",
        modal(in_row(min_length=4000, max_length=4000)),
    ),
    (
        "max_length 1-4000",
        modal(in_row(max_length=4001)),
        "data.components.0.components.0.max_length",
        modal(in_row(min_length=0, max_length=4000)),
    ),
    (
        "max_length at least 1",
        modal(in_row(max_length=0)),
        "data.components.0.components.0.max_length",
        modal(in_row(max_length=1)),
    ),
    (
        "one text input a row",
        modal({"type": 1, "components": [text_input(custom_id="a"), text_input(custom_id="b")]}),
        "data.components.0.components",
        modal(in_row(custom_id="a"), in_row(custom_id="b")),
    ),
    (
        "custom_ids unique",
        modal(in_row(), in_row()),
        "data.components.1.components.0.custom_id",
        modal(in_row(), in_row(custom_id="other")),
    ),
]


@pytest.mark.parametrize(
    ("what", "refused", "path", "largest"), MODAL_LIMITS, ids=[m[0] for m in MODAL_LIMITS]
)
def test_modal_limits(what: str, refused: dict[str, Any], path: str, largest: dict[str, Any]) -> None:
    assert path in _modal_problems(refused), what
    assert _modal_problems(largest) == {}


async def test_a_modal_over_a_limit_is_refused_on_the_callback(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    opened = await fake.slash("grab", **world.where)
    interaction = await until_grabbed(bot, opened.id)
    too_long = discord.ui.Modal(title="t" * 46)
    too_long.add_item(discord.ui.TextInput(label="Prompt"))
    with pytest.raises(discord.HTTPException) as refused:
        await interaction.response.send_modal(too_long)
    assert (refused.value.status, refused.value.code) == (400, 50035)
    assert "data.title" in refused.value.text
    assert fake.original(opened.token) is None


def slash_command(name: str = "video", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": 1, "description": "Make a clip", **extra}


def string_option(name: str = "prompt", **extra: Any) -> dict[str, Any]:
    return {"type": 3, "name": name, "description": "What to show", **extra}


def choices(count: int, *, name: int = 5, value: int = 5) -> list[dict[str, Any]]:
    return [
        {"name": f"{k:02d}".ljust(name, "n"), "value": f"{k:02d}".ljust(value, "v")} for k in range(count)
    ]


def sized_command(size: int) -> dict[str, Any]:
    """A slash command whose names and descriptions add up to exactly ``size`` characters: subcommands
    of 25 options each, every name 3 characters and every description 1-100."""
    cmd = slash_command("big", description="d")
    left = size - 4
    subcommands: list[dict[str, Any]] = []
    nodes = 0
    while left:
        if left < 4:
            cmd["description"] += "d" * left
            break
        described = min(100, left - 3)
        node = {"name": f"{nodes % 25:03d}", "description": "d" * described}
        left -= 3 + described
        if nodes % 26 == 0:
            subcommands.append({"type": 1, **node, "options": []})
        else:
            subcommands[-1]["options"].append({"type": 3, **node, "name": f"o{nodes % 26:02d}"})
        nodes += 1
    cmd["options"] = subcommands
    return cmd


# (what, refused command, error path, the largest accepted command)
COMMAND_LIMITS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "description 1-100",
        slash_command(description="d" * 101),
        "0.description",
        slash_command(description="d" * 100),
    ),
    (
        "option description 1-100",
        slash_command(options=[string_option(description="d" * 101)]),
        "0.options.0.description",
        slash_command(options=[string_option(description="d" * 100)]),
    ),
    (
        "option description not empty",
        slash_command(options=[string_option(description="")]),
        "0.options.0.description",
        slash_command(options=[string_option(description="d")]),
    ),
    (
        "25 options",
        slash_command(options=[string_option(f"o{k}") for k in range(26)]),
        "0.options",
        slash_command(options=[string_option(f"o{k}") for k in range(25)]),
    ),
    (
        "25 choices",
        slash_command(options=[string_option(choices=choices(26))]),
        "0.options.0.choices",
        slash_command(options=[string_option(choices=choices(25))]),
    ),
    (
        "choice name 1-100",
        slash_command(options=[string_option(choices=choices(1, name=101))]),
        "0.options.0.choices.0.name",
        slash_command(options=[string_option(choices=choices(1, name=100))]),
    ),
    (
        "string choice value 100",
        slash_command(options=[string_option(choices=choices(1, value=101))]),
        "0.options.0.choices.0.value",
        slash_command(options=[string_option(choices=choices(1, value=100))]),
    ),
    (
        "min_length 0-6000",
        slash_command(options=[string_option(min_length=6001)]),
        "0.options.0.min_length",
        slash_command(options=[string_option(min_length=6000, max_length=6000)]),
    ),
    (
        "max_length 1-6000",
        slash_command(options=[string_option(max_length=6001)]),
        "0.options.0.max_length",
        slash_command(options=[string_option(min_length=0, max_length=6000)]),
    ),
    (
        "max_length at least 1",
        slash_command(options=[string_option(max_length=0)]),
        "0.options.0.max_length",
        slash_command(options=[string_option(max_length=1)]),
    ),
    (
        "option names unique",
        slash_command(options=[string_option("p"), string_option("p")]),
        "0.options",
        slash_command(options=[string_option("p"), string_option("q")]),
    ),
    ("8000 characters a command", sized_command(8001), "0", sized_command(8000)),
]


@pytest.mark.parametrize(
    ("what", "refused", "path", "largest"), COMMAND_LIMITS, ids=[c[0] for c in COMMAND_LIMITS]
)
async def test_command_limits(
    fake: FakeDiscord, world: World, what: str, refused: dict[str, Any], path: str, largest: dict[str, Any]
) -> None:
    status, answer = await put_commands(fake, world.guild.id, [refused])
    assert (status, answer["code"]) == (400, 50035), what
    assert path in error_paths(answer), answer
    status, answer = await put_commands(fake, world.guild.id, [largest])
    assert status == 200, answer


def test_sized_command_has_the_size_it_says() -> None:
    def size(level: dict[str, Any]) -> int:
        return len(level["name"]) + len(level["description"]) + sum(size(o) for o in level.get("options", []))

    assert [size(sized_command(n)) for n in (1000, 8000, 8001)] == [1000, 8000, 8001]


# -- upload limits, route by route ------------------------------------------------------------------------


async def until_grabbed(bot: FakeBot, interaction_id: int) -> discord.Interaction[Any]:
    """The discord.py interaction the bot left to the test (`grab`, `GrabButton`)."""
    async with asyncio.timeout(10):
        while interaction_id not in bot.grabbed:
            await asyncio.sleep(0.01)
    return bot.grabbed[interaction_id]


def a_file(size: int, name: str = "clip.mp4") -> discord.File:
    return discord.File(io.BytesIO(b"\0" * size), filename=name)


async def refused_status(send: Awaitable[Any]) -> tuple[int, int]:
    with pytest.raises(discord.HTTPException) as refused:
        await send
    return refused.value.status, refused.value.code


OVER = 10 * MIB + 1  # one byte over the default limit


async def test_bot_token_posts_and_edits_are_sized_by_the_server(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    channel = text_channel(bot, world.channel_id)
    assert await refused_status(channel.send(file=a_file(OVER))) == (413, 40005)
    message = await channel.send(file=a_file(10 * MIB))
    assert message.attachments[0].size == 10 * MIB
    assert await refused_status(message.edit(attachments=[a_file(OVER)])) == (413, 40005)
    await message.edit(attachments=[a_file(10 * MIB, "other.mp4")])
    assert [a["filename"] for a in fake.messages[message.id]["attachments"]] == ["other.mp4"]

    # A tier-2 server takes 50 MiB a file, above the 25 MiB request cap of unboosted ones.
    boosted = text_channel(bot, world.boosted_channel_id)
    assert (await boosted.send(file=a_file(30 * MIB))).attachments[0].size == 30 * MIB


async def test_a_whole_request_is_capped_at_25_mib_where_files_are_smaller(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    channel = text_channel(bot, world.channel_id)
    three = [a_file(9 * MIB, f"part{k}.mp4") for k in range(3)]  # each under 10 MiB, 27 MiB in all
    assert await refused_status(channel.send(files=three)) == (413, 40005)
    under = [a_file(8 * MIB, f"part{k}.mp4") for k in range(3)]
    assert len((await channel.send(files=under)).attachments) == 3  # 24 MiB in all

    # Where a single file may be larger than 25 MiB (a Nitro member's interaction), so may the request.
    nitro = await fake.slash("grab", **world.where, attachment_size_limit=500 * MIB)
    interaction = await until_grabbed(bot, nitro.id)
    await interaction.response.send_message(files=[a_file(9 * MIB, f"part{k}.mp4") for k in range(3)])
    assert len(fake.original(nitro.token)["attachments"]) == 3  # type: ignore[index]


async def test_dm_uploads_stop_at_10_mib(fake: FakeDiscord, world: World, bot: FakeBot) -> None:
    dm = await bot.create_dm(discord.Object(world.user_id))
    assert await refused_status(dm.send(file=a_file(OVER))) == (413, 40005)
    assert (await dm.send(file=a_file(10 * MIB))).attachments[0].size == 10 * MIB
    post = fake.requests_for(CHANNEL_MESSAGES_POST)[-1]
    assert fake.channels[int(post.params["channel_id"])].guild_id is None


async def test_interaction_uploads_use_the_interactions_limit(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    """A Nitro member in an unboosted server: interaction-token uploads may reach 500 MiB there, a
    bot-token post in the same channel still stops at 10 MiB."""
    plain = await fake.slash("grab", **world.where)
    interaction = await until_grabbed(bot, plain.id)
    assert interaction.filesize_limit == 10 * MIB
    assert await refused_status(interaction.response.send_message(file=a_file(OVER))) == (413, 40005)

    nitro = await fake.slash("grab", **world.where, attachment_size_limit=500 * MIB)
    interaction = await until_grabbed(bot, nitro.id)
    assert interaction.filesize_limit == 500 * MIB
    await interaction.response.send_message(file=a_file(OVER))  # callback type 4 with a file
    assert fake.original(nitro.token)["attachments"][0]["size"] == OVER  # type: ignore[index]
    await interaction.edit_original_response(attachments=[a_file(OVER, "again.mp4")])  # webhook PATCH
    followup = await interaction.followup.send(file=a_file(OVER), wait=True)  # followup POST
    assert followup.attachments[0].size == OVER
    channel = text_channel(bot, world.channel_id)
    assert await refused_status(channel.send(file=a_file(OVER))) == (413, 40005)

    # The same limits hold for a deferred answer's followup and edits.
    deferred = await fake.slash("grab", **world.where)
    interaction = await until_grabbed(bot, deferred.id)
    await interaction.response.defer()
    assert await refused_status(interaction.followup.send(file=a_file(OVER))) == (413, 40005)
    assert await refused_status(interaction.edit_original_response(attachments=[a_file(OVER)])) == (
        413,
        40005,
    )


async def test_component_update_with_files_uses_the_clicks_limit(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    channel = text_channel(bot, world.channel_id)
    view = discord.ui.View(timeout=None)
    view.add_item(GrabButton(1))
    posted = await channel.send("press", view=view)

    click = await fake.click("grab:1", message_id=posted.id, user_id=world.user_id)
    interaction = await until_grabbed(bot, click.id)
    update = interaction.response.edit_message(attachments=[a_file(OVER)])  # callback type 7
    assert await refused_status(update) == (413, 40005)

    nitro = await fake.click(
        "grab:1", message_id=posted.id, user_id=world.user_id, attachment_size_limit=500 * MIB
    )
    interaction = await until_grabbed(bot, nitro.id)
    await interaction.response.edit_message(attachments=[a_file(OVER)])
    assert fake.messages[posted.id]["attachments"][0]["size"] == OVER


# -- interactions in DMs, and modals held by two members --------------------------------------------------


async def dm_with_button(bot: FakeBot, user_id: int, item: discord.ui.Item[Any]) -> discord.Message:
    dm = await bot.create_dm(discord.Object(user_id))
    view = discord.ui.View(timeout=None)
    view.add_item(item)
    return await dm.send("your clip", view=view)


async def test_a_click_in_a_dm_comes_without_guild_or_member(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    message = await dm_with_button(bot, world.user_id, GrabButton(2))
    click = await fake.click("grab:2", message_id=message.id, user_id=world.user_id)
    payload = click.payload
    assert "guild_id" not in payload
    assert "member" not in payload
    assert payload["user"]["id"] == str(world.user_id)
    assert payload["context"] == 1  # BOT_DM
    assert payload["authorizing_integration_owners"] == {"0": "0"}  # guild install, used in the bot's DM
    assert payload["channel"]["type"] == 1
    assert payload["message"]["id"] == str(message.id)

    interaction = await until_grabbed(bot, click.id)
    assert interaction.guild is None
    assert interaction.user.id == world.user_id
    await interaction.response.send_message("done", ephemeral=True)
    assert fake.original(click.token)["content"] == "done"  # type: ignore[index]

    bob = world.guild.add_member(name="bob")
    with pytest.raises(ValueError, match="not in DM channel"):
        await fake.click("grab:2", message_id=message.id, user_id=bob)


async def test_a_modal_opened_in_a_dm_is_submitted_from_the_dm(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    message = await dm_with_button(bot, world.user_id, AskButton(3))
    click = await fake.click("ask:3", message_id=message.id, user_id=world.user_id)
    await fake.wait_for(for_token(click.token, INTERACTION_CALLBACK))
    submitted = await fake.submit_modal("ask-modal", {"ask:prompt": "a cat"}, interaction=click)
    assert "guild_id" not in submitted.payload
    assert "member" not in submitted.payload
    assert submitted.payload["user"]["id"] == str(world.user_id)
    assert submitted.payload["context"] == 1
    assert submitted.payload["message"]["id"] == str(message.id)
    await fake.wait_for(for_token(submitted.token, INTERACTION_CALLBACK))
    assert fake.original(submitted.token)["content"] == "you said a cat"  # type: ignore[index]


async def test_submit_modal_targets_the_modal_a_member_was_shown(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    bob = world.guild.add_member(name="bob")
    alice_opens = await fake.slash("ask", **world.where)
    await fake.wait_for(for_token(alice_opens.token, INTERACTION_CALLBACK))
    bob_opens = await fake.slash("ask", guild_id=world.guild.id, channel_id=world.channel_id, user_id=bob)
    await fake.wait_for(for_token(bob_opens.token, INTERACTION_CALLBACK))

    # The latest modal with that custom_id is bob's; alice's is reached through her interaction.
    alice = await fake.submit_modal(None, {"ask:prompt": "from alice"}, interaction=alice_opens)
    assert alice.user_id == world.user_id
    assert alice.payload["member"]["user"]["id"] == str(world.user_id)
    # Without one, a member's own latest modal is found by user_id.
    own = await fake.submit_modal("ask-modal", {"ask:prompt": "from alice again"}, user_id=world.user_id)
    assert own.user_id == world.user_id
    # Discord delivers whoever submits, even on a modal shown to someone else: the bot must check.
    other = await fake.submit_modal(
        None, {"ask:prompt": "bob on alice's"}, interaction=alice_opens, user_id=bob
    )
    assert other.user_id == bob
    with pytest.raises(ValueError, match="not 'other-modal'"):
        await fake.submit_modal("other-modal", {"ask:prompt": "x"}, interaction=alice_opens)
    for submitted in (alice, own, other):
        await fake.wait_for(for_token(submitted.token, INTERACTION_CALLBACK))


# -- the refusal guard ------------------------------------------------------------------------------------


async def test_refusals_are_recorded_unless_declared_injected_or_rate_limits(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    channel = text_channel(bot, world.channel_id)
    assert await refused_status(channel.send("x" * 2001)) == (400, 50035)
    [refused] = fake.unexpected_refusals
    assert (refused.route, refused.status, refused.code) == (CHANNEL_MESSAGES_POST, 400, 50035)
    report = fake.refusal_report()
    assert CHANNEL_MESSAGES_POST in report
    assert "content" in report
    assert "Must be 2000 or fewer in length." in report

    with fake.expecting(status=400, code=50035, route=CHANNEL_MESSAGES_POST, reason="on purpose"):
        assert await refused_status(channel.send("x" * 2001)) == (400, 50035)
    assert await refused_status(channel.send(embed=discord.Embed(title="t" * 257))) == (400, 50035)
    assert [r.expected is not None for r in fake.refusals] == [False, True, False]

    fake.fail_next(CHANNEL_MESSAGES_POST, status=403, code=50013)  # asked for: not a refusal
    assert await refused_status(channel.send("x")) == (403, 50013)
    fake.fail_next(CHANNEL_MESSAGES_POST, status=429)  # waited out by discord.py
    await channel.send("after a 429")
    assert len(fake.unexpected_refusals) == 2

    declared = fake.expect_refusal(status=404, code=10008)
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(fake.snowflake())
    assert declared.hits == 1
    assert len(fake.unexpected_refusals) == 2


async def test_interaction_responses_parse_only_user_mentions_by_default(
    fake: FakeDiscord, world: World, bot: FakeBot
) -> None:
    """Discord's default ``allowed_mentions``: everything in a bot-token message, users only in an
    interaction response (the fake's MENTION_EVERYONE and a mentionable role make the difference visible)."""
    role = world.guild.add_role("pingable", mentionable=True)
    world.guild.roles[world.guild.bot_role_id].permissions |= MENTION_EVERYONE
    content = f"<@{world.user_id}> <@&{role}> @everyone"
    opened = await fake.slash("grab", **world.where)
    await until_grabbed(bot, opened.id)
    async with aiohttp.ClientSession() as session:
        url = f"{fake.api_base}/interactions/{opened.id}/{opened.token}/callback?with_response=1"
        async with session.post(url, json={"type": 4, "data": {"content": content}}) as resp:
            assert resp.status == 200
    answer = fake.original(opened.token)
    assert answer is not None
    assert [u["id"] for u in answer["mentions"]] == [str(world.user_id)]
    assert (answer["mention_roles"], answer["mention_everyone"]) == ([], False)

    status, posted = await post_message(fake, world.channel_id, {"content": content})
    assert status == 200
    assert (posted["mention_roles"], posted["mention_everyone"]) == ([str(role)], True)


async def test_the_bots_servers_come_200_a_page_and_a_server_without_the_bot_is_403(
    fake: FakeDiscord,
) -> None:
    ids = sorted(fake.add_guild(name=f"s{n}").id for n in range(250))
    fake.foreign_guild_ids.add(77)
    headers = {"Authorization": f"Bot {fake.bot_token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{fake.api_base}/users/@me/guilds") as first:
            page = [int(g["id"]) for g in await first.json()]
        async with http.get(f"{fake.api_base}/users/@me/guilds", params={"after": str(page[-1])}) as second:
            rest = [int(g["id"]) for g in await second.json()]
        async with http.get(f"{fake.api_base}/users/@me/guilds", params={"limit": "201"}) as too_many:
            assert too_many.status == 400
        async with http.get(f"{fake.api_base}/guilds/77") as foreign:
            assert (foreign.status, (await foreign.json())["code"]) == (403, 50001)
        async with http.get(f"{fake.api_base}/guilds/78") as nothing:
            assert (nothing.status, (await nothing.json())["code"]) == (404, 10004)
    assert page == ids[:200] and rest == ids[200:]
