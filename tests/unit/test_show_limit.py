"""The /show rate limit: per member and server, over a sliding hour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserFacingError
from bot.show_limit import SHOW_WINDOW, SHOWS_PER_HOUR, ShowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_hour_refuses_one_more_and_frees_a_slot_when_the_oldest_leaves_it() -> None:
    clock = Clock()
    limiter = ShowLimiter(clock=clock)
    for _ in range(SHOWS_PER_HOUR):
        limiter.take(1, 10)
        clock.now += 60
    with pytest.raises(UserFacingError, match="clips an hour"):
        limiter.take(1, 10)
    limiter.take(1, 11)  # another member
    limiter.take(2, 10)  # the same member in another server
    clock.now = 1000.0 + SHOW_WINDOW  # the first show is an hour old
    limiter.take(1, 10)
    with pytest.raises(UserFacingError):
        limiter.take(1, 10)


@given(st.lists(st.floats(min_value=0, max_value=4 * SHOW_WINDOW), max_size=60))
def test_no_hour_ever_holds_more_than_the_limit(gaps: list[float]) -> None:
    clock = Clock()
    limiter = ShowLimiter(clock=clock)
    taken: list[float] = []
    for gap in gaps:
        clock.now += gap / 10
        try:
            limiter.take(1, 1)
        except UserFacingError:
            # Refused only when the last hour really is full.
            assert sum(1 for t in taken if t > clock.now - SHOW_WINDOW) >= SHOWS_PER_HOUR
        else:
            taken.append(clock.now)
            assert sum(1 for t in taken if t > clock.now - SHOW_WINDOW) <= SHOWS_PER_HOUR
