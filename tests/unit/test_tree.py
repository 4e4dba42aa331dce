"""The command tree's error messages: each known error type gets its own short message."""

from __future__ import annotations

from discord import app_commands

from bot.tree import explain


def test_a_cooldown_says_when_to_try_again() -> None:
    # CommandOnCooldown is a CheckFailure: the generic check message must not swallow it.
    error = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 60.0), 42.0)
    assert explain(error) == "Slow down: try again in 42 s."


def test_another_failed_check_is_refused_generically() -> None:
    assert explain(app_commands.CheckFailure()) == "You can't use this command here."
