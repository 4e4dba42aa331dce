"""The command tree in each member's language: discord.py's `app_commands.Translator` over the catalogs, and
Discord's rules for what it may send (a translation that breaks them is not sent: English is shown)."""

from __future__ import annotations

from typing import Any

import discord
import regex
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n.catalogs import NAME, Catalogs, catalogs

# Discord's rule for command, group and option names (developers' docs, Application Commands: "Application
# Command Naming"): lowercase where the script has case, 1 to 32 of these characters. (Later docs add an
# apostrophe, which Discord's API is reported to refuse: the bot sends none.)
NAME_PATTERN = regex.compile(r"[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}")
DESCRIPTION_MAX = 100
CHOICE_NAME_MAX = 100
NAMES = (Where.command_name, Where.group_name, Where.parameter_name)
DESCRIPTIONS = (Where.command_description, Where.group_description, Where.parameter_description)


def valid_name(text: str) -> bool:
    """A command, group or option name Discord takes."""
    return bool(NAME_PATTERN.fullmatch(text)) and text == text.lower()


def fits(where: Where, text: str) -> bool:
    """Whether Discord takes `text` in this place of the tree."""
    if where in NAMES:
        return valid_name(text)
    if where in DESCRIPTIONS:
        return 1 <= len(text) <= DESCRIPTION_MAX
    if where is Where.choice_name:
        return 1 <= len(text) <= CHOICE_NAME_MAX
    return bool(text)


class CommandTranslator(app_commands.Translator):
    """Names, descriptions and choices of every command, in each supported locale."""

    def __init__(self, source: Catalogs | None = None) -> None:
        self.catalogs = source or catalogs()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContext[Any, Any],
    ) -> str | None:
        where = context.location
        text = self.catalogs.lookup(locale.value, string.message, context=NAME if where in NAMES else None)
        return text if text is not None and fits(where, text) else None
