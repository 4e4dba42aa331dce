"""How often a member may re-post clips with /show: a public post on demand is a spam tool without a cap."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from bot.errors import UserFacingError

# /show posts in public: at most this many per member and server in any hour.
SHOWS_PER_HOUR = 5
SHOW_WINDOW = 3600.0


class ShowLimiter:
    """Counts each member's /show posts over the last hour (in the process's memory: a restart forgets)."""

    def __init__(
        self, per_hour: int = SHOWS_PER_HOUR, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._shown: dict[tuple[int | None, int], deque[float]] = {}

    def take(self, guild_id: int | None, user_id: int) -> None:
        """Count one /show, or raise UserFacingError when the member used up the hour."""
        now = self._clock()
        times = self._shown.setdefault((guild_id, user_id), deque())
        while times and times[0] <= now - SHOW_WINDOW:
            times.popleft()
        if len(times) >= self.per_hour:
            minutes = max(1, round((times[0] + SHOW_WINDOW - now) / 60))
            raise UserFacingError(
                f"You can show {self.per_hour} clips an hour; try again in about {minutes} minute(s)."
            )
        times.append(now)
