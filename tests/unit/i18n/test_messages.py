"""Messages in each member's language: every marked text translated in every catalog with the same
placeholders, every one within Discord's limits in every language with its placeholders' longest values,
English as the fallback, numbers and plurals as each language writes them."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli_i18n import check_messages, read_catalogs
from bot.i18n import messages
from bot.i18n.catalogs import LOCALES
from bot.i18n.messages import _, current, money, n_, number, post_language, speaking, supported, when
from bot.i18n.source import (
    WORST,
    Message,
    check_english,
    check_translation,
    placeholders,
    source_messages,
    unextracted,
    unique,
)

ALL = (messages.SOURCE, *LOCALES)
MARKED = sorted(unique(source_messages()).values(), key=lambda m: m.english)


def render(message: Message, values: dict[str, str], count: int = 1) -> str:
    if message.plural is not None:
        return n_(message.english, message.plural, count, **{k: v for k, v in values.items() if k != "count"})
    return _(message.english, **values)


def test_the_source_marks_the_bots_texts() -> None:
    found = {m.english for m in MARKED}
    assert len(found) > 100
    assert "This command only works in a server." in found  # bot/tree.py
    assert "The clip was made but could not be delivered." in found  # bot/errors.py
    assert all(m.marker in messages.LIMITS for m in MARKED)


def test_every_text_is_translated_in_every_catalog_with_the_same_placeholders_and_within_limits() -> None:
    assert check_messages(source_messages(), read_catalogs()) == []


def test_every_marked_text_is_extracted() -> None:
    """Babel's extractor misses a marker called inside another's arguments; the syntax trees don't."""
    assert unextracted() == []


def test_every_placeholder_has_a_known_longest_value_and_english_fits_with_it() -> None:
    assert [problem for m in MARKED for problem in check_english(m)] == []


def test_every_text_in_every_language_fits_discords_limit_with_the_longest_values() -> None:
    """Rendered for real (the translation lookup, the plural form, the filling), not estimated."""
    for locale in ALL:
        with speaking(locale):
            for message in MARKED:
                # `{count}` of a text with a count is the count itself, written as the language does.
                names = placeholders(message.english) - ({"count"} if message.plural else set())
                values = {name: chr(0x2460 + index) * WORST[name] for index, name in enumerate(sorted(names))}
                for count in (0, 1, 2, 5, 22, 1_000_000, 999_999_999_999):
                    text = render(message, values, count)
                    assert 0 < len(text) <= message.limit, (locale, message.english, count)
                    for value in values.values():  # every value shown, whole
                        assert value in text, (locale, message.english)


@settings(max_examples=300, deadline=None)
@given(
    locale=st.sampled_from(ALL),
    index=st.integers(min_value=0, max_value=len(MARKED) - 1),
    data=st.data(),
    count=st.integers(min_value=0, max_value=10**9),
)
def test_any_values_render_in_any_language_without_error_and_within_limits(
    locale: str, index: int, data: st.DataObject, count: int
) -> None:
    """Values with braces, newlines, mentions and markdown are shown as they are, never re-read as
    placeholders, and never push a text over its limit while they stay within their longest."""
    message = MARKED[index]
    names = placeholders(message.english) - ({"count"} if message.plural else set())
    values = {
        name: data.draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=WORST[name]), label=name)
        for name in sorted(names)
    }
    with speaking(locale):
        text = render(message, values, count)
    assert len(text) <= message.limit
    for value in values.values():
        assert value in text


def test_english_is_the_fallback_never_a_key() -> None:
    with speaking("sv-SE"):  # a Discord locale the bot has no catalog for
        assert current() == "en-US"
        assert _("This command only works in a server.") == "This command only works in a server."
    with speaking("de"):
        assert _("A text no catalog has, {x}.", x=1) == "A text no catalog has, 1."
        german = _("This command only works in a server.")
    assert german != "This command only works in a server." and german


@pytest.mark.parametrize(
    "broken", ["Kaputt {nicht_da}", "{name.__class__}", "{name[0]}", "{name!r}", "{name:>99999}", "{", "}{"]
)
def test_a_translation_that_cant_be_filled_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    """A catalog can't reach into a value (attributes, items), pad it, or crash the caller."""

    class Broken:
        def gettext(self, text: str) -> str:
            return broken

    monkeypatch.setattr(messages, "_translations", lambda locale: Broken())
    with speaking("de"):
        assert _("Hello {name}", name="Ann") == "Hello Ann"
        assert _("") == ""  # never the catalog's header


def test_the_check_refuses_placeholders_that_reach_into_values() -> None:
    message = Message("Job {job} is ready.", None, "_", "x.py:1")
    for bad in ("Auftrag {job.__class__} ist fertig.", "Auftrag {job[0]}.", "Auftrag {job:>999}."):
        assert any("placeholders" in p for p in check_translation(message, bad)), bad
    assert check_translation(message, "Auftrag {job} ist fertig.") == []
    assert check_translation(message, "Auftrag {job} ist fertig, siehe /verlauf.")  # names a command


def test_locales_map_to_the_nearest_the_bot_speaks() -> None:
    assert supported("de") == "de" and supported("es-419") == "es-ES" and supported("zh-TW") == "en-US"
    assert supported(None) == "en-US" and supported("en-GB") == "en-US"
    assert post_language("ja", "fr") == "ja" and post_language(None, "fr") == "fr"
    assert post_language(None, None) == "en-US"


def test_numbers_money_and_plurals_follow_the_language() -> None:
    assert (money(1234.5), number(12345.678, 1)) == ("$1,234.50", "12,345.7")
    with speaking("de"):
        assert (money(1234.5), number(12345.678, 1)) == ("1.234,50\xa0$", "12.345,7")
    with speaking("fr"):
        assert number(1234) == "1\u202f234"
    assert when(1_700_000_000.9) == "<t:1700000000:R>" and when(0, "f") == "<t:0:f>"
    assert (
        n_("{count} job", "{count} jobs", 1) == "1 job" and n_("{count} job", "{count} jobs", 2) == "2 jobs"
    )


def test_polish_and_russian_use_their_three_plural_forms() -> None:
    plural = next((m for m in MARKED if m.plural is not None), None)
    assert plural is not None, "no text with a count is marked"
    for locale in ("pl", "ru"):
        with speaking(locale):
            one, few, many = (n_(plural.english, plural.plural or "", n) for n in (1, 2, 5))
        assert len({one, few, many}) == 3, (locale, one, few, many)


async def test_each_task_keeps_its_own_language() -> None:
    async def speak(locale: str) -> str:
        with speaking(locale):
            await asyncio.sleep(0.01)
            return current()

    assert list(await asyncio.gather(speak("de"), speak("ja"), speak("xx"))) == ["de", "ja", "en-US"]
    assert current() == "en-US"
