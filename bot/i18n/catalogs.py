"""The translation catalogs, one gettext `.po` file per Discord locale in `bot/i18n/locales/`, read with Babel
(`babel.messages.pofile`): the message ids are the English texts, so English needs no catalog and a text
with no translation (missing, empty or fuzzy) is shown in English, never as a key.

Command names, group names and option names are translated under the message context `name` (they follow
Discord's name rules); every other text has no context."""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

# Discord's locale codes (discord.Locale values) the bot speaks besides English.
LOCALES = ("de", "es-ES", "fr", "pt-BR", "ja", "ko", "zh-CN", "ru", "pl", "tr")
NAME = "name"  # the message context of command, group and option names


class Catalogs:
    """Every locale's translations: (context, English) -> text."""

    def __init__(self, tables: dict[str, dict[tuple[str | None, str], str]]) -> None:
        self._tables = tables

    @classmethod
    def read(cls) -> Catalogs:
        """The catalogs shipped in `bot/i18n/locales/` (a locale without a file has no translations)."""
        found = {locale: read_catalog(locale) for locale in LOCALES}
        return cls({locale: table_of(catalog) for locale, catalog in found.items() if catalog is not None})

    def lookup(self, locale: str, text: str, *, context: str | None = None) -> str | None:
        """The translation of `text` into `locale`, or None (then English is shown)."""
        return self._tables.get(locale, {}).get((context, text))

    def entries(self, locale: str) -> dict[tuple[str | None, str], str]:
        """Every translation of `locale`: (context, English) -> text."""
        return dict(self._tables.get(locale, {}))


def table_of(catalog: Catalog) -> dict[tuple[str | None, str], str]:
    """The usable translations of a catalog: not empty, not fuzzy."""
    table: dict[tuple[str | None, str], str] = {}
    for message in catalog:
        english = message.id[0] if isinstance(message.id, tuple | list) else message.id
        text = message.string[0] if isinstance(message.string, tuple | list) else message.string
        if english and isinstance(english, str) and text and isinstance(text, str) and not message.fuzzy:
            table[(message.context, english)] = text  # a text with plural forms: keyed by its singular
    return table


def catalog_files() -> dict[str, Traversable]:
    """The catalog file of each locale that has one."""
    folder = resources.files("bot.i18n").joinpath("locales")
    found = {locale: folder.joinpath(f"{locale}.po") for locale in LOCALES}
    return {locale: entry for locale, entry in found.items() if entry.is_file()}


@functools.cache
def read_catalog(locale: str) -> Catalog | None:
    """The shipped catalog of `locale` as Babel reads it (plural forms included; None without one): read once
    per process, shared by the command translator, the messages and the checks (none of them changes it)."""
    entry = catalog_files().get(locale)
    if entry is None:
        return None
    with entry.open("rb") as handle:
        return read_po(handle, locale=locale.replace("-", "_"))


@functools.cache
def catalogs() -> Catalogs:
    """The shipped catalogs, read once per process."""
    return Catalogs.read()
