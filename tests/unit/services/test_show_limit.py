"""The re-post rate limit: a member's re-posts (as the audit log holds them) over a sliding hour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserFacingError
from bot.services.show_limit import SHOW_WINDOW, SHOWS_PER_HOUR, check_shows


def test_the_hour_refuses_one_more_and_frees_a_slot_when_the_oldest_leaves_it() -> None:
    times = [1000.0 + 60 * i for i in range(SHOWS_PER_HOUR)]
    now = times[-1] + 1
    with pytest.raises(UserFacingError, match=rf"{SHOWS_PER_HOUR} clips an hour.*about 56 minute"):
        check_shows(times, now)
    check_shows(times[1:], now)  # one fewer
    check_shows(times, 1000.0 + SHOW_WINDOW)  # the first is an hour old
    with pytest.raises(UserFacingError):
        check_shows([*times, 1000.0 + SHOW_WINDOW], 1000.0 + SHOW_WINDOW)


def test_the_wait_is_counted_in_whole_minutes_one_or_more() -> None:
    times = [1000.0 + i for i in range(SHOWS_PER_HOUR)]
    with pytest.raises(UserFacingError) as caught:
        check_shows(times, 1000.0 + SHOW_WINDOW - 30)  # half a minute to go
    assert caught.value.user_message.endswith("try again in about 1 minute.")
    with pytest.raises(UserFacingError) as caught:
        check_shows(times, 1000.0 + SHOW_WINDOW - 150)
    assert caught.value.user_message.endswith("try again in about 2 minutes.")


@given(st.lists(st.floats(min_value=0, max_value=4 * SHOW_WINDOW), max_size=60))
def test_no_hour_ever_holds_more_than_the_limit(gaps: list[float]) -> None:
    now = 0.0
    taken: list[float] = []
    for gap in gaps:
        now += gap / 10
        in_hour = sum(1 for t in taken if t > now - SHOW_WINDOW)
        try:
            check_shows(taken, now)
        except UserFacingError:
            assert in_hour >= SHOWS_PER_HOUR  # refused only when the last hour really is full
        else:
            assert in_hour < SHOWS_PER_HOUR
            taken.append(now)
