"""How often a member may re-post clips (/show and "Post to channel"): a public post on demand is a spam tool
without a cap. Each re-post that happened is an audit row (SHOWN), so the count is the database's: it holds
across restarts and is the same for every gateway process."""

from __future__ import annotations

from collections.abc import Iterable

from bot.errors import UserFacingError
from bot.i18n.messages import n_, number

# Re-posts are public: at most this many per member and server in any hour.
SHOWS_PER_HOUR = 5
SHOW_WINDOW = 3600.0
# The audit action of one re-post.
SHOWN = "job.shown"


def check_shows(times: Iterable[float], now: float, per_hour: int = SHOWS_PER_HOUR) -> None:
    """Raise UserFacingError when the member's re-posts at `times` fill the hour before `now`."""
    recent = sorted(t for t in times if t > now - SHOW_WINDOW)
    if len(recent) >= per_hour:
        # One more fits once all but per_hour - 1 of them are an hour old.
        frees_at = recent[len(recent) - per_hour] + SHOW_WINDOW
        minutes = max(1, round((frees_at - now) / 60))
        raise UserFacingError(
            n_(
                "You can show {per_hour} clips an hour; try again in about {count} minute.",
                "You can show {per_hour} clips an hour; try again in about {count} minutes.",
                minutes,
                per_hour=number(per_hour),
            )
        )
