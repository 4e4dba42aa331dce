"""Spend charts as PNG bytes for Discord embeds.

Drawn with matplotlib's object-oriented API on the Agg canvas: every call builds its own `Figure`, nothing
touches `pyplot` or its global figure registry, so `spend_chart` can run in `asyncio.to_thread`.
Its texts, dates and amounts are in the language of the moment (`asyncio.to_thread` carries it), when the
chart's font has that language's letters (`chart_language`).
"""

from __future__ import annotations

import datetime
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_currency
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.ticker import FixedLocator, FuncFormatter

from bot.i18n.messages import SOURCE, _, current, money, n_, number

WIDTH_PX = 800
HEIGHT_PX = 400
DPI = 100
BAR_COLOUR = "#5865F2"  # Discord blurple
TEXT_COLOUR = "#23272A"
MUTED_COLOUR = "#6D6F78"
GRID_COLOUR = "#DADCE0"
BACKGROUND = "#FFFFFF"
MIN_SLOTS = 7  # a single day still gets a bar of sensible width, centred
DENSE = 31  # above this many bars the job counts turn sideways and zero counts are left out
NICE_STEPS = (1, 2, 3, 7, 14, 21, 28)
SAMPLE_DAY = datetime.date(2025, 3, 1)  # a month name in the language tells whether the font has its letters


@dataclass(frozen=True)
class DaySpend:
    day: datetime.date
    dollars: float
    jobs: int


def drawable(text: str) -> bool:
    """Whether the chart's font (matplotlib's default, DejaVu Sans unless configured) has every letter of
    `text`: the one bundled with matplotlib has Latin, Greek and Cyrillic, but no Chinese, Japanese or Korean,
    which it would draw as empty boxes."""
    font = get_font(findfont(FontProperties()))
    return all(char.isspace() or font.get_char_index(ord(char)) for char in text)


def chart_language() -> str:
    """The language to draw the chart in: the current one if the font has its letters, else English."""
    sample = format_skeleton("MMMd", SAMPLE_DAY, locale=_locale()) + _("No spend in this period")
    return current() if drawable(sample) else SOURCE


def spend_chart(days: Sequence[DaySpend], *, title: str | None = None) -> bytes:
    """A PNG bar chart (800x400) of dollars per day, with each day's job count above its bar.

    Days are sorted; missing days between the first and last become zero bars and repeated days are added
    together, so the x axis is a continuous calendar. An empty sequence gives an empty chart that says so.
    """
    series = _continuous(days)
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _style(axes)

    total = sum(day.dollars for day in series)
    jobs = sum(day.jobs for day in series)
    axes.set_title(title or _("Spend per day"), loc="left", fontsize=13, color=TEXT_COLOUR, parse_math=False)
    axes.set_title(
        n_(
            "{dollars} total · {count} job (count above each bar)",
            "{dollars} total · {count} jobs (count above each bar)",
            jobs,
            dollars=money(total),
        ),
        loc="right",
        fontsize=9,
        color=MUTED_COLOUR,
        parse_math=False,
    )

    if series:
        _draw_bars(axes, series)
    else:
        axes.set_xlim(-0.5, MIN_SLOTS - 0.5)
        axes.set_xticks([])
    if not series or all(day.dollars == 0 for day in series):
        axes.set_ylim(0, 1)
        axes.text(
            0.5,
            0.55,
            _("No spend in this period") if series else _("No data"),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            color=MUTED_COLOUR,
            parse_math=False,
        )
    _format_dollars(axes)

    figure.set_layout_engine("constrained")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor=BACKGROUND, metadata={"Software": None})
    return buffer.getvalue()


def _continuous(days: Sequence[DaySpend]) -> list[DaySpend]:
    """One entry per calendar day from the first to the last, in order."""
    dollars: dict[datetime.date, float] = {}
    jobs: dict[datetime.date, int] = {}
    for entry in days:
        if not math.isfinite(entry.dollars):
            raise ValueError(f"spend for {entry.day} is not a finite number: {entry.dollars!r}")
        dollars[entry.day] = dollars.get(entry.day, 0.0) + entry.dollars
        jobs[entry.day] = jobs.get(entry.day, 0) + entry.jobs
    if not dollars:
        return []
    first, last = min(dollars), max(dollars)
    span = (last - first).days + 1
    calendar = [first + datetime.timedelta(days=offset) for offset in range(span)]
    return [DaySpend(day, dollars.get(day, 0.0), jobs.get(day, 0)) for day in calendar]


def _style(axes: Axes) -> None:
    axes.set_facecolor(BACKGROUND)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(GRID_COLOUR)
    axes.tick_params(colors=MUTED_COLOUR, labelcolor=TEXT_COLOUR, labelsize=9)
    axes.grid(axis="y", color=GRID_COLOUR, linewidth=0.8)
    axes.set_axisbelow(True)


def _draw_bars(axes: Axes, series: list[DaySpend]) -> None:
    count = len(series)
    positions = list(range(count))
    bars = axes.bar(positions, [day.dollars for day in series], width=0.8, color=BAR_COLOUR)

    dense = count > DENSE
    labels = ["" if dense and day.jobs == 0 else number(day.jobs) for day in series]
    axes.bar_label(
        bars,
        labels=labels,
        padding=2,
        fontsize=7 if dense else (8 if count > 14 else 9),
        rotation=90 if dense else 0,
        color=TEXT_COLOUR,
    )

    slots = max(count, MIN_SLOTS)
    pad = (slots - count) / 2
    axes.set_xlim(-0.5 - pad, count - 0.5 + pad)

    low = min(0.0, *(day.dollars for day in series))
    high = max(0.0, *(day.dollars for day in series))
    if high > 0 or low < 0:
        headroom = 1.25 if dense else 1.15  # room for the counts above the tallest bar
        axes.set_ylim(low * headroom, high * headroom)

    multi_year = series[0].day.year != series[-1].day.year
    step = _label_step(count, max_labels=7 if multi_year else 10)
    shown = list(range(count - 1, -1, -step))[::-1]  # anchored on the latest day
    axes.xaxis.set_major_locator(FixedLocator(shown))
    axes.set_xticklabels([_day_label(series[index].day, multi_year=multi_year) for index in shown])
    if step > 1:
        axes.xaxis.set_minor_locator(FixedLocator(positions))
        axes.tick_params(axis="x", which="minor", length=2, color=GRID_COLOUR)


def _label_step(count: int, *, max_labels: int) -> int:
    """The smallest calendar-friendly step that keeps at most `max_labels` date labels."""
    needed = math.ceil(count / max_labels)
    for step in NICE_STEPS:
        if step >= needed:
            return step
    return math.ceil(needed / 28) * 28


def _locale() -> Locale:
    return Locale.parse(current(), sep="-")


def _day_label(day: datetime.date, *, multi_year: bool) -> str:
    # Month and day as the language writes them ("Mar 1", "1. März"); ISO dates across years.
    return day.isoformat() if multi_year else format_skeleton("MMMd", day, locale=_locale())


def _format_dollars(axes: Axes) -> None:
    low, high = axes.get_ylim()
    whole = max(abs(low), abs(high)) >= 10
    locale = _locale()
    # The language's currency pattern without its cents ("$12", "12 $") for whole dollars.
    pattern = locale.currency_formats["standard"].pattern.replace("0.00", "0")

    def dollars(value: float, _position: int | None) -> str:
        if not whole:
            return money(value)
        return format_currency(value, "USD", format=pattern, locale=locale, currency_digits=False)

    axes.yaxis.set_major_formatter(FuncFormatter(dollars))
