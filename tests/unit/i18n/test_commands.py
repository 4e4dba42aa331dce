"""The command tree in every language: the catalogs are complete and within Discord's rules, the translator
sends nothing Discord would refuse, and the whole tree, translated, passes the strict fake Discord."""

from __future__ import annotations

from importlib import resources
from typing import Any

import discord
import pytest
from babel.messages.pofile import read_po
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.ext import commands

from bot.cli_i18n import Text, check, command_texts
from bot.i18n.catalogs import LOCALES, NAME, Catalogs, catalogs
from bot.i18n.commands import CommandTranslator, fits, valid_name
from bot.i18n.source import source_messages
from cogs.admin import Admin
from cogs.jobs import Jobs
from cogs.story import Story
from cogs.video import Video
from tests.fakes.discord.commands import COMMAND_SIZE_LIMIT, _command_problems, _command_size

NONE: Any = None  # the cogs' services: unused to describe their commands


async def translated_tree(translator: app_commands.Translator) -> list[dict[str, Any]]:
    """Every command as the bot syncs it: the real cogs on a bot that never connects, translated."""
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await bot.tree.set_translator(translator)
    for cog in (Video(NONE, NONE, NONE), Story(NONE), Jobs(NONE, NONE, NONE), Admin(NONE, NONE, NONE, NONE)):
        await bot.add_cog(cog)
    return [await command.get_translated_payload(bot.tree, translator) for command in bot.tree.get_commands()]


def test_every_catalog_translates_every_text_within_discords_rules() -> None:
    messages = [message.english for message in source_messages()]
    assert check(command_texts(), catalogs(), messages=messages) == []


async def test_the_tree_in_every_language_passes_the_fakes_checks_and_is_translated() -> None:
    payload = await translated_tree(CommandTranslator())
    assert _command_problems(payload) == {}
    [video] = [command for command in payload if command["name"] == "video"]
    assert set(video["description_localizations"]) == set(LOCALES)
    assert set(video["options"][0]["name_localizations"]) == set(LOCALES)
    for locale in LOCALES:
        assert video["description_localizations"][locale] != video["description"], locale


async def test_the_fake_refuses_localizations_discord_refuses() -> None:
    payload = await translated_tree(CommandTranslator())
    [video] = [command for command in payload if command["name"] == "video"]
    for broken, field in (
        ({"name_localizations": {"de": "Video Clip"}}, "0.name_localizations.de"),
        ({"name_localizations": {"xx": "video"}}, "0.name_localizations.xx"),
        ({"description_localizations": {"fr": "d" * 101}}, "0.description_localizations.fr"),
    ):
        assert field in _command_problems([{**video, **broken}])
    # In a locale, an option's name may not be another option's (its localization, or its English name).
    clash = {
        **video["options"][1],
        "name_localizations": {"de": video["options"][0]["name_localizations"]["de"]},
    }
    assert "0.options" in _command_problems([{**video, "options": [video["options"][0], clash]}])
    english = {**video["options"][1], "name_localizations": {"pl": video["options"][2]["name"]}}
    without = {**video["options"][2], "name_localizations": None}
    assert "0.options" in _command_problems([{**video, "options": [video["options"][0], english, without]}])
    choice = {**video["options"][2]["choices"][0], "name_localizations": {"ja": "x" * 101}}
    option = {**video["options"][2], "choices": [choice]}
    assert _command_problems([{**video, "options": [video["options"][0], video["options"][1], option]}])


async def test_the_translator_sends_nothing_discord_would_refuse_and_english_stays_the_fallback() -> None:
    source = Catalogs({"de": {(NAME, "video"): "Video Clip", (NAME, "story"): "geschichte", (None, "x"): ""}})
    translator = CommandTranslator(source)

    async def translate(text: str, where: Where, locale: discord.Locale) -> str | None:
        context: Any = app_commands.TranslationContext(location=where, data=None)  # type: ignore[call-overload]
        return await translator.translate(app_commands.locale_str(text), locale, context)

    assert await translate("video", Where.command_name, discord.Locale.german) is None  # a space, upper case
    assert await translate("story", Where.command_name, discord.Locale.german) == "geschichte"
    assert await translate("story", Where.command_name, discord.Locale.french) is None  # no catalog
    assert await translate("story", Where.command_description, discord.Locale.german) is None  # a name only


@pytest.mark.parametrize(
    ("name", "ok"),
    [("geschichte", True), ("ストーリー", True), ("историю", True), ("a-b_c", True), ("don't", False),
     ("video\n", False), ("Video", False), ("two words", False), ("a:b", False), ("x" * 33, False),
     ("", False)],
)  # fmt: skip
def test_names_follow_discords_rule(name: str, ok: bool) -> None:
    assert valid_name(name) is ok


def test_the_check_reports_missing_unused_invalid_and_clashing_translations() -> None:
    texts = [
        Text(Where.command_name, "video", "video"),
        Text(Where.command_description, "Make a clip", "video"),
        Text(Where.parameter_name, "prompt", "video prompt"),
        Text(Where.parameter_name, "image", "video image"),
    ]
    source = Catalogs(
        {
            "de": {
                (NAME, "video"): "Video",  # upper case
                (NAME, "prompt"): "bild",
                (NAME, "image"): "bild",  # the same name as another option of /video
                (None, "Unused text"): "Unbenutzt",
            }
        }
    )
    problems = [p for p in check(texts, source) if p.startswith("de:")]
    assert "de: unused translation of 'Unused text'" in problems
    assert "de: video: no translation of 'Make a clip'" in problems
    assert any("'Video' breaks Discord's rule" in p for p in problems)
    assert any("'bild' is also video prompt's name" in p for p in problems)
    assert fits(Where.choice_name, "x" * 100) and not fits(Where.choice_name, "x" * 101)


async def test_every_command_stays_within_discords_size_counted_by_its_longest_localizations() -> None:
    for command in await translated_tree(CommandTranslator()):
        assert _command_size(command) <= COMMAND_SIZE_LIMIT, command["name"]


def test_no_catalog_is_marked_fuzzy() -> None:
    """A fuzzy catalog header makes gettext's tools skip the whole file (and its plural rules)."""
    for entry in resources.files("bot.i18n").joinpath("locales").iterdir():
        if entry.name.endswith(".po"):
            with entry.open("rb") as handle:
                assert not read_po(handle).fuzzy, entry.name
