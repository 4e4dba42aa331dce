"""Which language a clip's messages are in (issue 15, I18N.md rule 6): its requester's status message and
private deliveries in their locale (a worker's edits and words included); the clip's post in the channel, a
/show repost and a Post button's post in the server's language (its admins' choice, else its own locale).

A stand-in catalog translates a few texts as "(locale) text", so each message shows the language it was
made in; amounts show it too (babel writes dollars per language: "0,40 $" in German, "0,40 $US" in French)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.i18n import messages
from tests.e2e.conftest import World, finished, until
from tests.e2e.test_delivery import _left_delivering, _redelivered, posts_to
from tests.fakes.discord import CHANNEL_MESSAGES_POST, EPHEMERAL

TRANSLATED = frozenset(
    {
        "Done: the clip is posted",
        "Sora 2 clip",
        "Job {job} · requested by user {user}",
        "{member} your clip is ready.",
        "Job {job}, shown again.",
        "Posted job {job} again.",
        "Re-roll",
        "Post to channel",
        "Here it is; `/show {job}` posts it in a channel where I can post.",
    }
)
NBSP = "\xa0"


class Tagged:
    """A catalog that translates TRANSLATED texts into "(locale) text"."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def gettext(self, text: str) -> str:
        return f"({self.locale}) {text}" if text in TRANSLATED else text

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.gettext(singular if count == 1 else plural)


@pytest.fixture(autouse=True)
def tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "_translations", Tagged)


def embed_of(message: dict[str, Any]) -> dict[str, Any]:
    embed: dict[str, Any] = message["embeds"][0]
    return embed


def cost(message: dict[str, Any]) -> str:
    fields = embed_of(message)["fields"]
    return str(next(f["value"] for f in fields if f["name"] in ("Cost", "Estimated cost")))


def labels(message: dict[str, Any]) -> list[str]:
    return [c.get("label", "") for row in message.get("components", []) for c in row["components"]]


async def video(world: World, locale: str, *, private: bool = False) -> str:
    options: list[dict[str, object]] = [{"name": "prompt", "value": "a lighthouse at dusk"}]
    if private:
        options.append({"name": "private", "value": True})
    interaction = await world.fake.slash(
        "video",
        options,
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        user_id=world.alice,
        locale=locale,
    )
    return interaction.token


async def test_the_status_speaks_the_requesters_language_and_the_clip_the_servers(world: World) -> None:
    async with world.bot() as bot:
        await bot.governance.update_settings(world.guild_id, language="fr")
        token = await video(world, "de")
        await finished(bot, 1)
        # The worker's last edit of the status message, in the requester's language.
        await until(
            lambda: embed_of(world.answer(token))["title"] == "(de) Done: the clip is posted",
            what="the status edited in German",
        )
        assert cost(world.answer(token)) == f"0,40{NBSP}$"
        [post] = await until(world.clips, what="the clip")
        assert post["content"] == f"(fr) <@{world.alice}> your clip is ready."
        assert embed_of(post)["title"] == "(fr) Sora 2 clip"
        assert embed_of(post)["footer"]["text"] == f"(fr) Job 1 · requested by user {world.alice}"
        assert cost(post) == f"0,40{NBSP}$US"
        assert "(fr) Re-roll" in labels(post)


async def test_without_a_chosen_language_the_clip_speaks_the_servers_own_not_the_members(
    world: World,
) -> None:
    async with world.bot() as bot:
        token = await video(world, "de")
        await finished(bot, 1)
        [post] = await until(world.clips, what="the clip")
        # The fake server's own locale is en-US.
        assert post["content"] == f"<@{world.alice}> your clip is ready."
        assert embed_of(post)["title"] == "Sora 2 clip" and cost(post) == "$0.40"
        assert cost(world.answer(token)) == f"0,40{NBSP}$"


async def test_a_private_clip_speaks_its_requesters_language_and_its_post_the_servers(world: World) -> None:
    async with world.bot() as bot:
        await bot.governance.update_settings(world.guild_id, language="fr")
        token = await video(world, "pl", private=True)
        await finished(bot, 1)
        [followup] = await until(lambda: [m for m in world.fake.followups(token) if m["attachments"]])
        assert followup["flags"] & EPHEMERAL
        assert embed_of(followup)["title"] == "(pl) Sora 2 clip" and cost(followup) == f"0,40{NBSP}USD"
        assert "(pl) Post to channel" in labels(followup)
        # Post to channel: a public post, in the server's language.
        await world.fake.click(
            "sora:post:1",
            message_id=int(followup["id"]),
            user_id=world.alice,
            guild_id=world.guild_id,
            locale="pl",
        )
        [post] = await until(world.clips, what="the clip posted")
        assert embed_of(post)["title"] == "(fr) Sora 2 clip" and cost(post) == f"0,40{NBSP}$US"
        assert post["content"] == f"(fr) <@{world.alice}> your clip is ready."


async def test_show_reposts_in_the_servers_language_and_answers_in_the_members(world: World) -> None:
    async with world.bot() as bot:
        await bot.governance.update_settings(world.guild_id, language="fr")
        await video(world, "de")
        await finished(bot, 1)
        await until(world.clips, what="the clip")
        interaction = await world.fake.slash(
            "show",
            [{"name": "job_id", "value": 1}],
            guild_id=world.guild_id,
            channel_id=world.channel_id,
            user_id=world.bob,
            locale="pl",
        )
        await until(lambda: world.answer(interaction.token).get("content"), what="/show's answer")
        assert world.answer(interaction.token)["content"] == "(pl) Posted job 1 again."
        [_, repost] = world.clips()
        assert repost["content"] == "(fr) Job 1, shown again."
        assert embed_of(repost)["title"] == "(fr) Sora 2 clip" and cost(repost) == f"0,40{NBSP}$US"


async def test_a_clip_the_channel_refuses_reaches_its_requester_by_dm_in_their_language(world: World) -> None:
    world.fake.fail_next(CHANNEL_MESSAGES_POST, status=404, code=10003, message="Unknown Channel")
    async with world.bot() as bot:
        await bot.governance.update_settings(world.guild_id, language="fr")
        await video(world, "de")
        await finished(bot, 1)
        [dm] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
        assert "(de) Here it is; `/show 1` posts it in a channel where I can post." in dm["content"]
        assert embed_of(dm)["title"] == "(de) Sora 2 clip" and cost(dm) == f"0,40{NBSP}$"


async def test_a_rerun_finds_the_clip_posted_in_a_language_the_server_no_longer_uses(world: World) -> None:
    async with world.bot() as bot:
        await bot.governance.update_settings(world.guild_id, language="fr")
        await video(world, "de")
        first = await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        for message in world.fake.messages.values():
            message.pop("nonce", None)  # Discord's history does not return a message's nonce
        # The worker died between the post and storing its id; meanwhile the server chose another language.
        await bot.governance.update_settings(world.guild_id, language="pl")
        await _left_delivering(bot, world, recorded=False)
        again = await _redelivered(bot)
        assert again.result_message_id == first.result_message_id == int(posted["id"])
        assert len(world.clips()) == 1 and len(posts_to(world, world.channel_id)) == 1
