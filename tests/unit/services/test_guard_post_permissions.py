"""Guard.require_post_permissions: the bot permissions a public clip needs in a channel, and the refusal."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.errors import NotAllowed
from bot.i18n.messages import speaking
from bot.services.guard import Guard

NEEDED = discord.Permissions(view_channel=True, send_messages=True, embed_links=True, attach_files=True)


def interaction(permissions: discord.Permissions, channel_type: discord.ChannelType) -> Any:
    """The three things the check reads from an interaction."""
    return SimpleNamespace(
        guild_id=10, channel=SimpleNamespace(type=channel_type), app_permissions=permissions
    )


guard = Guard(*(cast(Any, None),) * 4)  # the check reads nothing it is built with


def refusal(permissions: discord.Permissions, channel_type: discord.ChannelType) -> str | None:
    try:
        guard.require_post_permissions(interaction(permissions, channel_type))
    except NotAllowed as exc:
        return exc.user_message
    return None


def test_a_text_channel_with_the_four_permissions_is_fine() -> None:
    assert refusal(NEEDED, discord.ChannelType.text) is None


@pytest.mark.parametrize(
    ("flag", "name"),
    [
        ("view_channel", "View Channel"),
        ("send_messages", "Send Messages"),
        ("embed_links", "Embed Links"),
        ("attach_files", "Attach Files"),
    ],
)
def test_each_missing_permission_is_named_alone(flag: str, name: str) -> None:
    permissions = discord.Permissions(NEEDED.value)
    setattr(permissions, flag, False)
    message = refusal(permissions, discord.ChannelType.text)
    assert message is not None and f"missing the {name} permission here" in message
    assert "grant it" in message


def test_several_missing_permissions_are_listed_together() -> None:
    message = refusal(discord.Permissions(view_channel=True), discord.ChannelType.text)
    assert message is not None
    # Listed as the language lists (CLDR's English has the serial comma).
    assert "Send Messages, Embed Links, and Attach Files permissions" in message and "grant them" in message
    with speaking("de"):
        german = refusal(discord.Permissions(view_channel=True), discord.ChannelType.text)
    assert german is not None and ", " in german and " und " in german


def test_in_a_thread_it_is_send_messages_in_threads_that_counts() -> None:
    in_threads = discord.Permissions(NEEDED.value, send_messages=False, send_messages_in_threads=True)
    assert refusal(in_threads, discord.ChannelType.public_thread) is None
    message = refusal(NEEDED, discord.ChannelType.private_thread)
    assert message is not None and "Send Messages in Threads" in message


def test_a_private_clip_needs_none_of_them() -> None:
    guard.require_post_permissions(
        interaction(discord.Permissions.none(), discord.ChannelType.text), private=True
    )
