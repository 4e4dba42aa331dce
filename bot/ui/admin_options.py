"""The options /sora-admin and the dashboard's settings page share: each limit's range, the budget's and the
strikes' ranges, the defaults' choices, and what a set of chosen defaults stores, so both accept the same
values and the audit log records the same details whichever of them made the change."""

from __future__ import annotations

from typing import Any

from discord.app_commands import Choice

from bot.domain.models import DURATIONS
from bot.domain.stories import SHOTS_MAX
from bot.ui.languages import chosen

JOBS_PER_HOUR_MAX = 10_000
VIDEO_SECONDS_PER_DAY_MAX = 1_000_000
CONCURRENT_MAX = 100
# The limits a rule sets as numbers, in the order /sora-admin limits set lists them, each with its range
# (0: none allowed); pro and hd are yes or no.
LIMIT_RANGES: dict[str, tuple[int, int]] = {
    "jobs_per_hour": (0, JOBS_PER_HOUR_MAX),
    "video_seconds_per_day": (0, VIDEO_SECONDS_PER_DAY_MAX),
    "concurrent": (0, CONCURRENT_MAX),
    "story_shots": (0, SHOTS_MAX),
}
BUDGET_MAX = 1_000_000  # US dollars a day
STRIKES_MIN, STRIKES_MAX = 1, 100

DURATION_CHOICES = [Choice(name=f"{n} seconds", value=n) for n in DURATIONS]
ASPECT_RATIO_CHOICES = [Choice(name="16:9", value="16:9"), Choice(name="9:16", value="9:16")]
MODEL_CHOICES = [Choice(name="sora-2", value="sora-2"), Choice(name="sora-2-pro", value="sora-2-pro")]


def defaults_given(
    *,
    duration: int | None = None,
    aspect_ratio: str | None = None,
    model: str | None = None,
    age_restricted_images: bool | None = None,
    strikes_to_block: int | None = None,
    language: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings columns the chosen defaults set (None: not chosen; the language as stored, None for the
    server's own), and the audit log's details of them (the language as chosen: "server" for the own)."""
    values = {
        "default_duration": duration,
        "default_aspect_ratio": aspect_ratio,
        "default_model": model,
        "age_restricted_images": age_restricted_images,
        "strikes_to_block": strikes_to_block,
    }
    given: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    if language is not None:
        given["language"] = chosen(language)
    return given, given | ({"language": language} if language is not None else {})
