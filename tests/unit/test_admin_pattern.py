"""Blocklist patterns as /sora-admin shows them (through `escape`): typed text, never a link or a mention."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.ui.embeds import escape as _pattern


def _all_brackets_escaped(shown: str) -> bool:
    """Every `[` carries a backslash: no masked link can form."""
    return all(shown[i - 1 : i] == "\\" for i, c in enumerate(shown) if c == "[")


def test_every_masked_link_in_a_pattern_is_broken() -> None:
    shown = _pattern("[a](https://x) [b](https://y)")
    assert _all_brackets_escaped(shown), shown


@given(st.lists(st.sampled_from(["[a](https://x)", " ", "\n", "word", "`", "*", "<@1>"]), max_size=30))
def test_no_pattern_shows_a_masked_link(parts: list[str]) -> None:
    assert _all_brackets_escaped(_pattern("".join(parts)))
