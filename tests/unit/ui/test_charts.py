"""The spend chart is a real PNG at embed size for any number of days, including none and all-zero."""

from __future__ import annotations

import datetime
import io
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from bot.i18n.catalogs import LOCALES
from bot.i18n.messages import SOURCE, speaking
from bot.ui.charts import DaySpend, _day_label, chart_language, drawable, spend_chart

START = datetime.date(2025, 3, 1)


def _days(count: int, *, start: datetime.date = START, dollars: float | None = None) -> list[DaySpend]:
    return [
        DaySpend(
            day=start + datetime.timedelta(days=offset),
            dollars=(offset % 7) * 1.25 if dollars is None else dollars,
            jobs=offset % 5 if dollars is None else 0,
        )
        for offset in range(count)
    ]


def _open(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _assert_embed_png(png: bytes) -> None:
    image = _open(png)
    assert image.format == "PNG"
    assert image.size == (800, 400)
    # Not a blank canvas: the bars, labels and axes put more than a handful of colours on it.
    colours = image.convert("RGB").getcolors(maxcolors=100_000)
    assert colours is None or len(colours) > 10


@pytest.mark.parametrize("count", [1, 30, 90])
def test_chart_is_an_embed_sized_png(count: int) -> None:
    _assert_embed_png(spend_chart(_days(count)))


def test_zero_spend_still_draws() -> None:
    _assert_embed_png(spend_chart(_days(30, dollars=0.0)))
    _assert_embed_png(spend_chart(_days(1, dollars=0.0)))


def test_no_days_draws_an_empty_chart() -> None:
    _assert_embed_png(spend_chart([]))


def test_gaps_duplicates_and_unsorted_days_are_accepted() -> None:
    days = [
        DaySpend(START + datetime.timedelta(days=9), 3.0, 2),
        DaySpend(START, 1.5, 1),
        DaySpend(START, 0.5, 1),
    ]
    _assert_embed_png(spend_chart(days))


def test_days_across_a_new_year_and_large_amounts() -> None:
    days = [
        DaySpend(datetime.date(2024, 12, 1) + datetime.timedelta(days=offset), 1234.5 * offset, 100 * offset)
        for offset in range(60)
    ]
    _assert_embed_png(spend_chart(days))


def test_title_with_dollar_signs_is_plain_text() -> None:
    _assert_embed_png(spend_chart(_days(3), title="Spend $5 to $10 for #general"))


def test_non_finite_spend_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        spend_chart([DaySpend(START, float("nan"), 1)])


def test_charts_can_be_drawn_from_several_threads() -> None:
    barrier = threading.Barrier(4)

    def draw(count: int) -> bytes:
        barrier.wait(timeout=30)
        return spend_chart(_days(count))

    with ThreadPoolExecutor(max_workers=4) as pool:
        pngs = list(pool.map(draw, [1, 7, 30, 90]))
    for png in pngs:
        _assert_embed_png(png)
    assert pngs[2] == spend_chart(_days(30))


def test_the_chart_is_in_the_readers_language_when_its_font_has_the_letters() -> None:
    assert drawable("Türkçe, Polski: zażółć, Русский, Español, Português") and not drawable("日本語")
    for locale, expected in (("de", "de"), ("ru", "ru"), ("ja", SOURCE), ("ko", SOURCE), ("zh-CN", SOURCE)):
        with speaking(locale):
            assert chart_language() == expected, locale
    with speaking("de"):
        assert _day_label(START, multi_year=False) == "1. März"
    assert _day_label(START, multi_year=False) == "Mar 1"
    assert _day_label(START, multi_year=True) == "2025-03-01"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_chart_in_any_language_has_every_letter_it_draws(locale: str) -> None:
    with speaking(locale), speaking(chart_language()), warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of each letter its font lacks
        png = spend_chart(_days(12))
    _assert_embed_png(png)
