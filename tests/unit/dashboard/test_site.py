"""The ids a dashboard path may hold: exactly the numbers the database can store, as a regex (Starlette's
convertors can't refuse a value once their regex matched)."""

from __future__ import annotations

import random
import re

import pytest

from bot.dashboard.site import MAX_ID, Snowflake, at_most


@pytest.mark.parametrize("limit", [0, 1, 9, 10, 99, 100, 101, 907, 1000, 1234, 20000])
def test_at_most_matches_every_number_up_to_the_limit_and_none_above(limit: int) -> None:
    pattern = re.compile(f"(?:{at_most(limit)})")
    assert [n for n in range(30_000) if bool(pattern.fullmatch(str(n))) != (n <= limit)] == []


def test_a_snowflake_is_any_id_up_to_2_63_minus_1() -> None:
    pattern = re.compile(f"(?:{Snowflake.regex})")
    near = [MAX_ID + step for step in range(-1000, 1000)] + [10**18 - 1, 10**18, 10**19, 2**64]
    numbers = near + [random.randrange(10**19) for _ in range(20_000)]
    assert [n for n in numbers if bool(pattern.fullmatch(str(n))) != (n <= MAX_ID)] == []
    assert pattern.fullmatch(str(1_380_000_000_000_000_000))  # a Discord id of 2025 (19 digits)
    assert not pattern.fullmatch("9" * 5000) and not pattern.fullmatch("-1") and not pattern.fullmatch("1²")
    assert Snowflake().convert("0042") == 42 and Snowflake().to_string(MAX_ID) == str(MAX_ID)
