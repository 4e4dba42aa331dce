"""The command tree's one error handler, and the one way to answer an interaction safely."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.errors import FOREIGN_INSTALL, QuotaExceeded, UserFacingError
from bot.i18n.messages import _, join_list, number, when

log = logging.getLogger(__name__)

GENERIC_ERROR = _("Something went wrong on our side; it has been logged. Please try again in a moment.")


async def reply(interaction: discord.Interaction[Any], content: str | None = None, **kwargs: Any) -> None:
    """Answer privately by default, whether or not the interaction was answered or deferred already."""
    kwargs.setdefault("ephemeral", True)
    kwargs.setdefault("allowed_mentions", discord.AllowedMentions.none())
    if interaction.is_expired():
        log.info("interaction %s expired before it could be answered", interaction.id)
        return
    if interaction.response.is_done():
        await interaction.followup.send(content or "", **kwargs)
    else:
        await interaction.response.send_message(content, **kwargs)


async def acknowledge(interaction: discord.Interaction[Any], *, thinking: bool = False) -> None:
    """Defer privately, once: a button that opens no form acknowledges before it reads anything (Discord
    allows 3 s); later calls are no-ops, and every answer after it is a followup (`reply`)."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=thinking)


FORM_NOT_YOURS = _("This form belongs to the member who opened it.")


async def only_its_opener(interaction: discord.Interaction[Any], opener_id: int) -> bool:
    """A form's check: only the member it was shown to may submit it (whoever submits is who Discord
    names, so a submission by anyone else is refused privately rather than acted on as theirs)."""
    if interaction.user.id == opener_id:
        return True
    log.warning("form submitted by %s, opened by %s: refused", interaction.user.id, opener_id)
    await reply(interaction, _(FORM_NOT_YOURS))
    return False


def explain(error: Exception) -> str:
    """Turn a known error into a short message for the person who caused it."""
    if isinstance(error, QuotaExceeded):
        if error.resets_at is None:
            return error.user_message
        return _("{refusal} Room again {time}.", refusal=error.user_message, time=when(error.resets_at))
    if isinstance(error, UserFacingError):
        return error.user_message
    if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
        return _("One of the options has a value this command can't use; please check it and try again.")
    if isinstance(error, app_commands.MissingPermissions):
        names = {"manage_guild": _("Manage Server"), "manage_messages": _("Manage Messages")}
        needed = join_list([names.get(p, p.replace("_", " ").title()) for p in error.missing_permissions])
        return _("You need the {permission} permission to do that.", permission=needed)
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command only works in a server.")
    if isinstance(error, app_commands.CommandOnCooldown):  # a CheckFailure: before the catch-all below
        return _("Slow down: try again in {seconds} s.", seconds=number(error.retry_after))
    if isinstance(error, app_commands.CheckFailure):
        return _("You can't use this command here.")
    return _(GENERIC_ERROR)


def unwrap(error: Exception) -> Exception:
    """The error a command raised, without discord.py's wrapper."""
    if isinstance(error, app_commands.CommandInvokeError) and isinstance(error.original, Exception):
        return error.original
    return error


async def handle_error(interaction: discord.Interaction[Any], error: Exception) -> None:
    """Known errors become short private messages; anything else a generic one plus a logged traceback."""
    message = explain(error)
    tree = getattr(interaction.client, "tree", None)
    if isinstance(error, UserFacingError) and isinstance(tree, SoraTree) and tree.refused is not None:
        tree.refused(error)  # metrics: a request refused, by the error's class
    if message == _(GENERIC_ERROR):
        where = interaction.command.qualified_name if interaction.command else f"component {interaction.id}"
        log.error("%s failed", where, exc_info=error)
    try:
        await reply(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell user %s about an error", interaction.user.id)


class SoraTree(app_commands.CommandTree[Any]):
    """The command tree; all command errors go through `handle_error`."""

    # The guard's installation check, set by the composition root (bot/client.py); unset, nothing runs.
    installation_allowed: Callable[[discord.Interaction[Any]], Awaitable[bool]] | None = None
    # Told of each refusal `handle_error` explains to a member (the metrics), set by the composition root.
    refused: Callable[[Exception], None] | None = None

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Only commands that come through the server's own installation run (a user install would spend
        the operator's money outside every server's rules); the rest are refused privately."""
        if self.installation_allowed is not None and await self.installation_allowed(interaction):
            return True
        try:
            await reply(interaction, _(FOREIGN_INSTALL))
        except discord.HTTPException:
            log.warning("could not tell user %s their command was refused", interaction.user.id)
        return False

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await handle_error(interaction, unwrap(error))
