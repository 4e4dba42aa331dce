"""Every text a member sees, in their language.

A text is marked where it is written, in English, with one of the functions below; it is translated into
the language of the moment (a context variable: the member's for a private answer, the server's for a post
in a channel, set with `speaking`) and its `{placeholders}` filled. English is the source and the fallback:
a text without a usable translation (or whose translation can't be filled) is shown in English.

The function marks what the text is, and so which of Discord's limits it must fit in every language
(`sora-bot i18n check` renders each with its placeholders' longest values, `WORST`):
`_` any text (message content, embed descriptions), `N_` one translated later (when shown), `n_` one
with a count (plural forms per language), `heading_` an embed title or field name (256), `label_` a
button's label or an input's placeholder (80), `title_` a form's title or an input's label (45)."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import string
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime

from babel import Locale
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from bot.i18n.catalogs import LOCALES, read_catalog

log = logging.getLogger(__name__)

SOURCE = "en-US"  # the language texts are written in
# Discord locales the bot has no catalog for but whose speakers read one it has (Latin American Spanish).
NEAREST = {"es-419": "es-ES"}
_LOCALE: ContextVar[str] = ContextVar("sora_locale", default=SOURCE)

# The limits each marker's texts must fit (Discord's: message content 2,000, embed title and field name 256,
# button label 80, modal title and text input label 45).
LIMITS = {"_": 2000, "N_": 2000, "n_": 2000, "heading_": 256, "label_": 80, "title_": 45}


def supported(locale: object) -> str:
    """The locale the bot speaks for a Discord locale (`discord.Locale` or its value): its own, the nearest
    it has, else English."""
    value = str(getattr(locale, "value", locale) or "")
    if value in LOCALES:
        return value
    return NEAREST.get(value, SOURCE)


def post_language(chosen: str | None, guild_locale: object) -> str:
    """The language of a server's posts: the one its admins chose (`/sora-admin defaults language:`), else
    the server's own (its `guild_locale`, community servers set it), else English."""
    return supported(chosen or guild_locale)


def current() -> str:
    """The locale texts are translated into at this moment."""
    return _LOCALE.get()


@contextlib.contextmanager
def speaking(locale: object) -> Iterator[str]:
    """Translate into `locale` (a Discord locale, or None for English) inside the block."""
    chosen = supported(locale)
    token = _LOCALE.set(chosen)
    try:
        yield chosen
    finally:
        _LOCALE.reset(token)


@functools.cache
def _translations(locale: str) -> Translations | None:
    catalog = read_catalog(locale)
    if catalog is None:
        return None
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # empty and fuzzy translations are left out: English is shown for them
    compiled.seek(0)
    return Translations(compiled)


def load_catalogs() -> None:
    """Read every catalog now (about 10 ms each), so the first member of each language isn't kept waiting
    while the event loop reads theirs."""
    for locale in LOCALES:
        _translations(locale)
        _babel_locale(locale)


@functools.cache
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale, sep="-")


def fill(text: str, values: Mapping[str, object]) -> str:
    """`text` with its `{name}` placeholders replaced by `values` (as `str()`), and nothing else: no
    attribute or index access, conversion or format spec (a catalog can't reach into a value or pad it);
    `{{` and `}}` are braces. Raises ValueError for anything but a plain known name."""
    parts = []
    for literal, field, spec, conversion in string.Formatter().parse(text):
        parts.append(literal)
        if field is None:
            continue
        if spec or conversion or field not in values:
            raise ValueError(f"placeholder {{{field}}} is not one of {sorted(values)}")
        parts.append(str(values[field]))
    return "".join(parts)


def _fill(translated: str, english: str, values: Mapping[str, object]) -> str:
    try:
        return fill(translated, values)
    except ValueError:
        log.warning("translation into %s of %r can't be filled; English shown", current(), english)
        return fill(english, values)


def _(text: str, /, **values: object) -> str:
    """`text` in the current language, its placeholders filled with `values`."""
    if not text:
        return text  # gettext's "" is the catalog's header
    locale = current()
    table = _translations(locale) if locale != SOURCE else None
    translated = table.gettext(text) if table is not None else text
    return _fill(translated, text, values) if values else translated


def n_(singular: str, plural: str, count: int, /, **values: object) -> str:
    """A text about `count` things, in the current language's plural form; `{count}` is the number as the
    language writes it."""
    locale = current()
    table = _translations(locale) if locale != SOURCE else None
    translated = table.ngettext(singular, plural, count) if table is not None else None
    english = singular if count == 1 else plural
    filled = {"count": number(count), **values}
    return _fill(translated or english, english, filled)


def N_(text: str, /) -> str:
    """Marks `text` for translation without translating it now: for a template translated when it is shown
    (an error raised in a worker, whose `user_message` is read in the requester's language)."""
    return text


# The same as `_`, named for what the text is (its limit, LIMITS).
heading_ = _
label_ = _
title_ = _


def number(value: float, digits: int = 0) -> str:
    """A number as the current language writes it (grouping, decimal sign), rounded to `digits`."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_babel_locale(current()))


def money(dollars: float) -> str:
    """US dollars, as the current language writes an amount ($1.20, 1,20 $, 1,20 US$ ...)."""
    return format_currency(dollars, "USD", locale=_babel_locale(current()))


def join_list(items: Sequence[str]) -> str:
    """Items as the current language lists them ("A, B and C", "A、B、C")."""
    return format_list(list(items), locale=_babel_locale(current())) if items else ""


def mention(user_id: int) -> str:
    """A member's mention, as a value for a text (it pings only where the message's allowed mentions say)."""
    return f"<@{user_id}>"


def when(moment: datetime | float, style: str = "R") -> str:
    """A time in Discord's markup: each member's client shows it in their own language and time zone."""
    stamp = moment.timestamp() if isinstance(moment, datetime) else moment
    return f"<t:{int(stamp)}:{style}>"
