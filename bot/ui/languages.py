"""The languages a server's posts may be in (`/sora-admin defaults language:`), each named in its own
language, as a reader of that language looks for it."""

from __future__ import annotations

from discord.app_commands import Choice

from bot.i18n.catalogs import LOCALES
from bot.i18n.messages import SOURCE, _, post_language

# Discord locale -> the language's own name (never translated: a German reader looks for "Deutsch").
NAMES = {
    "de": "Deutsch",
    "es-ES": "Español",
    "fr": "Français",
    "pt-BR": "Português (Brasil)",
    "ja": "日本語",
    "ko": "한국어",
    "zh-CN": "简体中文",
    "ru": "Русский",
    "pl": "Polski",
    "tr": "Türkçe",
    SOURCE: "English",
}

# The choice meaning "no language chosen": posts follow the server's own (its guild_locale).
SERVER_OWN = "server"
CHOICES = [
    *(Choice(name=NAMES[locale], value=locale) for locale in (*LOCALES, SOURCE)),
    Choice(name="The server's own language", value=SERVER_OWN),
]


def chosen(value: str) -> str | None:
    """What the server's settings store for a choice: its locale, or None for the server's own."""
    return None if value == SERVER_OWN else value


def posts_language(language: str | None, guild_locale: object) -> str:
    """The language of a server's posts in words: the chosen one's name, else the server's own, named."""
    if language is not None:
        return NAMES.get(post_language(language, None), language)
    return _("the server's own language ({language})", language=NAMES[post_language(None, guild_locale)])
