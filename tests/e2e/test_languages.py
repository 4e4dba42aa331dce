"""Each member's language, with the shipped catalogs (issue 15): what only the member sees is in their
client's locale, what the server sees in the server's language (its admins' choice, else its own locale),
an unsupported locale English. Expected texts are rendered from the catalogs and must differ from English,
so a message left in English (or in the wrong language) fails."""

from __future__ import annotations

from typing import Any

from bot.i18n.messages import _, heading_, label_, mention, money, speaking
from tests.e2e.conftest import World, finished, until
from tests.fakes.discord import EPHEMERAL

BLOCKED = "Your prompt uses words this server doesn't allow, so it was not sent. This counts as a strike."


def translated(locale: str, render: Any) -> str:
    """`render()` in `locale`, checked to be a translation (not the English)."""
    with speaking(locale):
        text = str(render())
    english = str(render())
    assert text and text != english, (locale, english)
    return text


async def video(world: World, user_id: int, locale: str, **options: Any) -> str:
    interaction = await world.fake.slash(
        "video",
        [{"name": k, "value": v} for k, v in options.items()],
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        user_id=user_id,
        locale=locale,
    )
    return interaction.token


def labels(message: dict[str, Any]) -> list[str]:
    return [c["label"] for row in message["components"] for c in row["components"] if "label" in c]


async def test_a_german_member_gets_german_errors_and_status_while_the_post_stays_in_the_servers(
    world: World,
) -> None:
    async with world.bot() as bot:
        await world.admin_command("blocklist", "add", pattern="dragon")
        token = await video(world, world.alice, "de", prompt="a dragon flies over the sea")
        await until(lambda: world.answer(token).get("content"), what="the refusal")
        refusal = world.answer(token)
        assert refusal["flags"] & EPHEMERAL
        assert refusal["content"] == translated("de", lambda: _(BLOCKED))

        token = await video(world, world.alice, "de", prompt="a kite flies over the sea")
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error
        done = translated("de", lambda: heading_("Done: the clip is posted"))
        await until(lambda: world.answer(token)["embeds"][0]["title"] == done, what="the German status")
        fields = [f["name"] for f in world.answer(token)["embeds"][0]["fields"]]
        assert translated("de", lambda: heading_("Settings")) in fields
        await until(world.clips, what="the clip")
        [post] = world.clips()
        # The server has no language of its own choosing and speaks English: its post is English.
        assert post["content"] == f"<@{world.alice}> your clip is ready."
        assert "Re-roll" in labels(post)


async def test_a_post_in_a_server_set_to_japanese_is_in_japanese(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("defaults", language="ja")
        token = await video(world, world.bob, "en-US", prompt="a paper boat drifts down a stream")
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error
        await until(world.clips, what="the clip")
        [post] = world.clips()
        assert post["content"] == translated(
            "ja", lambda: _("{member} your clip is ready.", member=mention(world.bob))
        )
        assert post["allowed_mentions"] == {"parse": [], "users": [world.bob]}
        embed = post["embeds"][0]
        assert embed["title"] == translated("ja", lambda: heading_("Sora 2 clip"))
        assert {f["name"] for f in embed["fields"]} >= {translated("ja", lambda: heading_("Cost"))}
        assert translated("ja", lambda: label_("Re-roll")) in labels(post)
        with speaking("ja"):
            assert money(0.4) in [f["value"] for f in embed["fields"]]
        # Bob's own status message is his: English.
        await until(
            lambda: world.answer(token)["embeds"][0]["title"] == "Done: the clip is posted", what="status"
        )


async def test_the_servers_own_language_is_the_default_for_its_posts(world: World) -> None:
    world.guild.preferred_locale = "fr"
    async with world.bot() as bot:
        await video(world, world.alice, "ja", prompt="a lighthouse blinks at dusk")
        assert (await finished(bot, 1)).state.value == "delivered"
        await until(world.clips, what="the clip")
        [post] = world.clips()
        assert post["content"] == translated(
            "fr", lambda: _("{member} your clip is ready.", member=mention(world.alice))
        )


async def test_a_member_with_an_unsupported_locale_gets_english(world: World) -> None:
    async with world.bot():
        await world.admin_command("blocklist", "add", pattern="dragon")
        for locale in ("sv-SE", "zh-TW"):
            token = await video(world, world.alice, locale, prompt="a dragon in the snow")
            await until(lambda t=token: world.answer(t).get("content"), what="the refusal")  # type: ignore[misc]
            assert world.answer(token)["content"] == BLOCKED
