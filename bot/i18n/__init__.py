"""Languages: the catalogs of translations (gettext `.po` files read with Babel, English the source: a
missing translation falls back to English) and the command tree's translator."""

from bot.i18n.catalogs import LOCALES, Catalogs, catalogs

__all__ = ["LOCALES", "Catalogs", "catalogs"]
