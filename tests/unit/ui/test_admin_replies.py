"""What /sora-admin answers: each change in words, counts in real plurals, typed text never markdown."""

from __future__ import annotations

import pytest

from bot.domain.limits import LimitRule
from bot.i18n.messages import speaking
from bot.ui import admin_replies as said
from tests.unit.fake_translations import translate


def test_the_defaults_set_are_named_with_the_language_last() -> None:
    given = {"default_duration": 8, "default_aspect_ratio": "9:16", "default_model": "sora-2-pro",
             "age_restricted_images": True, "strikes_to_block": 3, "language": "de"}  # fmt: skip
    assert said.defaults_set(given, "Deutsch") == (
        "Defaults set: duration 8, aspect ratio 9:16, model sora-2-pro, age restricted images True, "
        "strikes to block 3, language Deutsch."
    )
    assert said.defaults_set({"language": None}, "the server's own language (English)") == (
        "Defaults set: language the server's own language (English)."
    )


def test_limits_and_budget_in_words() -> None:
    assert (
        said.limits_set(None, LimitRule("guild", 1, concurrent=2)) == "Limits for the server: concurrent 2."
    )
    assert said.limits_set("<@&5>", LimitRule("role", 5, hd=False)) == "Limits for <@&5>: hd no."
    assert said.limits_cleared("<@6>", removed=False) == "<@6> had no limits set."
    assert said.budget_set(1_000_000) == "Daily budget set to $1,000,000.00."
    assert said.budget_set(None) == "Daily budget removed."


def test_counts_have_real_plurals() -> None:
    assert said.standing("<@1>", 1, 3, is_blocked=False) == "<@1>: 1 of 3 strikes, not blocked."
    assert said.standing("<@1>", 1, 1, is_blocked=True) == "<@1>: 1 of 1 strike, blocked."
    assert said.forgotten("<@1>", 1) == "Forgot <@1>: prompts removed, 1 file deleted."
    assert said.forgotten("<@1>", 0) == "Forgot <@1>: prompts removed, 0 files deleted."
    assert said.exported(1) == "1 job." and said.exported(1234) == "1,234 jobs."
    assert said.blocklist([("a", False), ("b+", True)]) == ("2 rules:", ["word: a", "regex: b+"])
    assert said.blocklist([("a", False)])[0] == "1 rule:"


def test_a_pattern_is_shown_as_typed() -> None:
    assert said.blocked("[x](https://a.b) *y*", is_regex=False, added=True) == (
        "Blocked word: \\[x](https\\://a.b) \\*y\\*"
    )
    assert said.blocked("x", is_regex=True, added=False) == "Already blocked."


def test_answers_are_in_the_admins_language(monkeypatch: pytest.MonkeyPatch) -> None:
    translate(monkeypatch, {"de": {"Defaults set: {defaults}.": "Standardwerte gesetzt: {defaults}.",
                                   "language {language}": "Sprache {language}"}})  # fmt: skip
    with speaking("de"):
        assert said.defaults_set({"language": "fr"}, "Français") == "Standardwerte gesetzt: Sprache Français."
        assert said.budget_set(5000) == "Daily budget set to 5.000,00\xa0$."  # untranslated, amount in German
