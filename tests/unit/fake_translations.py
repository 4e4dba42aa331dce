"""Catalogs for tests: a few English texts translated per locale, in place of the shipped catalogs (whose
translations of the messages come later), to see which language a text was made in."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bot.i18n import messages


class Table:
    """What `babel.support.Translations` offers `_` and `n_`: English -> translation, else the English."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.texts = texts

    def gettext(self, text: str) -> str:
        return self.texts.get(text, text)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        english = singular if count == 1 else plural
        return self.texts.get(english, english)


def translate(monkeypatch: pytest.MonkeyPatch, tables: Mapping[str, Mapping[str, str]]) -> None:
    """Translate with `tables` (locale -> English -> translation) instead of the catalogs."""
    monkeypatch.setattr(
        messages, "_translations", lambda locale: Table(tables[locale]) if locale in tables else None
    )
