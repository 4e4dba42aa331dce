"""/sora-admin: a server's admins decide who may generate, where, how much, with which model, whether a
moderator approves first, and see what was made and what it cost. Every change is confirmed privately and
written to the audit log."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.limits import LimitRule, Scope
from bot.domain.stories import SHOTS_MAX
from bot.errors import UserFacingError
from bot.i18n.messages import _
from bot.moderation.prompt_rules import MAX_RULE_LENGTH, InvalidRule, check_rule
from bot.services.forgetting import forget_member
from bot.tree import acknowledge, reply
from bot.ui import admin_replies as said
from bot.ui.admin_options import (
    ASPECT_RATIO_CHOICES,
    BUDGET_MAX,
    CONCURRENT_MAX,
    DURATION_CHOICES,
    JOBS_PER_HOUR_MAX,
    MODEL_CHOICES,
    STRIKES_MAX,
    STRIKES_MIN,
    VIDEO_SECONDS_PER_DAY_MAX,
    defaults_given,
)
from bot.ui.export import jobs_export
from bot.ui.languages import CHOICES as LANGUAGES
from bot.ui.languages import chosen, posts_language
from bot.ui.pages import PagedReply, fit, send_pages
from bot.ui.reports import limits_lines, usage_report

if TYPE_CHECKING:
    from bot.client import SoraBot
    from bot.pipeline import Pipeline
    from bot.services.audit import Audit
    from bot.settings import Settings
    from bot.store.governance import Governance

Interaction = discord.Interaction["SoraBot"]


def _guild(interaction: Interaction) -> int:
    """The server the command runs in (interaction_check refuses a command anywhere else)."""
    assert interaction.guild_id is not None
    return interaction.guild_id


def _scope(
    interaction: Interaction, role: discord.Role | None, user: discord.Member | None
) -> tuple[Scope, int, str | None]:
    """Whom a limit rule is for (a role, else a member, else the server): scope, id, and its mention."""
    if role is not None:
        return "role", role.id, role.mention
    if user is not None:
        return "user", user.id, user.mention
    return "guild", _guild(interaction), None


@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="sora-admin", group_description="Server settings for sora-bot"):
    """Server governance. Hidden from members without Manage Server, and checked again on every use."""

    limits = app_commands.Group(name="limits", description="Per-user and per-role limits")
    budget = app_commands.Group(name="budget", description="The server's daily budget")
    channels = app_commands.Group(name="channels", description="Where clips may be made")
    roles = app_commands.Group(name="roles", description="Who may make clips")
    blocklist = app_commands.Group(name="blocklist", description="Words and patterns refused in prompts")
    approval_commands = app_commands.Group(
        name="approvals", description="Moderator approval before any money is spent"
    )
    audit_commands = app_commands.Group(name="audit", description="Where the audit trail is posted")
    user = app_commands.Group(name="user", description="One member's standing")

    def __init__(self, settings: Settings, governance: Governance, audit: Audit, pipeline: Pipeline) -> None:
        self.settings = settings
        self.governance = governance
        self.audit = audit
        self.pipeline = pipeline
        super().__init__()

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        # default_member_permissions only hides the command; server admins can override it, so check again.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        await acknowledge(interaction)  # before any database read or write (Discord allows 3 s)
        return True

    async def _changed(self, interaction: Interaction, action: str, message: str, **details: Any) -> None:
        await self.audit.record(
            _guild(interaction), action, actor_id=interaction.user.id, guild_locale=interaction.guild_locale,
            source="discord",
            **details,
        )  # fmt: skip
        await reply(interaction, message)

    async def _configure(self, interaction: Interaction, **values: Any) -> None:
        """Change the server's settings (the audit entry comes with the confirmation)."""
        await self.governance.update_settings(_guild(interaction), **values)

    # -- limits ------------------------------------------------------------------------------------------

    @limits.command(name="show", description="Show the limits that apply in this server")
    async def limits_show(self, interaction: Interaction) -> None:
        rules = await self.governance.limit_rules(_guild(interaction))
        server = await self.governance.settings(_guild(interaction))
        lines = limits_lines(self.settings, server, rules, interaction.guild_locale)
        # Up to 25 role rules and a rule per member: paged.
        await send_pages(interaction, PagedReply("", lines))

    @limits.command(name="set", description="Set limits for the server, a role or a member")
    @app_commands.describe(
        role="Limits for members with this role (the most generous role applies)",
        user="Limits for one member (wins over roles)",
        jobs_per_hour="Jobs a member may start per hour",
        video_seconds_per_day="Seconds of video a member may make per day",
        concurrent="Jobs a member may have queued or running at once",
        story_shots="The most shots a member may use in one story (below 2: no stories)",
        pro="Whether Sora 2 Pro may be used",
        hd="Whether 1080p may be used",
    )
    async def limits_set(
        self,
        interaction: Interaction,
        role: discord.Role | None = None,
        user: discord.Member | None = None,
        jobs_per_hour: app_commands.Range[int, 0, JOBS_PER_HOUR_MAX] | None = None,
        video_seconds_per_day: app_commands.Range[int, 0, VIDEO_SECONDS_PER_DAY_MAX] | None = None,
        concurrent: app_commands.Range[int, 0, CONCURRENT_MAX] | None = None,
        story_shots: app_commands.Range[int, 0, SHOTS_MAX] | None = None,
        pro: bool | None = None,
        hd: bool | None = None,
    ) -> None:
        if role is not None and user is not None:
            raise UserFacingError(_("Choose a role or a member, not both."))
        scope, target, who = _scope(interaction, role, user)
        values = {"jobs_per_hour": jobs_per_hour, "video_seconds_per_day": video_seconds_per_day,
                  "concurrent": concurrent, "story_shots": story_shots, "pro": pro, "hd": hd}  # fmt: skip
        if all(v is None for v in values.values()):
            raise UserFacingError(_("Give at least one limit to set."))
        rule = LimitRule(scope, target, **values)  # type: ignore[arg-type]
        rule = await self.governance.set_limit_rule(_guild(interaction), rule)
        await self._changed(
            interaction, "limits.set", said.limits_set(who, rule), scope=scope, target=target,
            **{k: v for k, v in values.items() if v is not None},
        )  # fmt: skip

    @limits.command(name="clear", description="Remove the limits set for a role or a member")
    @app_commands.describe(role="The role whose limits to remove", user="The member whose limits to remove")
    async def limits_clear(
        self, interaction: Interaction, role: discord.Role | None = None, user: discord.Member | None = None
    ) -> None:
        if (role is None) == (user is None):
            raise UserFacingError(_("Choose one role or one member."))
        scope, target, who = _scope(interaction, role, user)
        assert who is not None  # a role or a member
        removed = await self.governance.clear_limit_rule(_guild(interaction), scope, target)
        text = said.limits_cleared(who, removed)
        await self._changed(interaction, "limits.clear", text, scope=scope, target=target)

    @budget.command(
        name="set", description="The most the server may spend per day (UTC); leave empty for none"
    )
    @app_commands.describe(dollars_per_day="US dollars a day; leave empty for no budget")
    async def budget_set(
        self,
        interaction: Interaction,
        dollars_per_day: app_commands.Range[float, 0, BUDGET_MAX] | None = None,
    ) -> None:
        await self._configure(interaction, budget_dollars_per_day=dollars_per_day)
        text = said.budget_set(dollars_per_day)
        await self._changed(interaction, "budget.set", text, dollars_per_day=dollars_per_day)

    # -- channels and roles ------------------------------------------------------------------------------

    @channels.command(
        name="add", description="Allow clips in a channel (with none listed, every channel is allowed)"
    )
    @app_commands.describe(channel="The channel to allow clips in")
    async def channels_add(self, interaction: Interaction, channel: discord.TextChannel) -> None:
        await self._allow(interaction, "channels", channel.id, True, channel.mention)

    @channels.command(name="remove", description="Stop allowing clips in a channel")
    @app_commands.describe(channel="The channel to take off the list")
    async def channels_remove(self, interaction: Interaction, channel: discord.TextChannel) -> None:
        await self._allow(interaction, "channels", channel.id, False, channel.mention)

    @channels.command(name="list", description="Channels where clips may be made")
    async def channels_list(self, interaction: Interaction) -> None:
        found = await self.governance.allowed(_guild(interaction), "channels")
        await reply(interaction, fit([f"<#{c}>" for c in sorted(found)]) or _("Every channel (none listed)."))

    @roles.command(name="allow", description="Let a role make clips (with none listed, everyone may)")
    @app_commands.describe(role="The role whose members may make clips")
    async def roles_allow(self, interaction: Interaction, role: discord.Role) -> None:
        await self._allow(interaction, "roles", role.id, True, role.mention)

    @roles.command(name="remove", description="Stop letting a role make clips")
    @app_commands.describe(role="The role to take off the list")
    async def roles_remove(self, interaction: Interaction, role: discord.Role) -> None:
        await self._allow(interaction, "roles", role.id, False, role.mention)

    @roles.command(name="list", description="Roles that may make clips")
    async def roles_list(self, interaction: Interaction) -> None:
        found = await self.governance.allowed(_guild(interaction), "roles")
        await reply(interaction, fit([f"<@&{r}>" for r in sorted(found)]) or _("Everyone (no roles listed)."))

    async def _allow(self, interaction: Interaction, kind: str, item: int, allow: bool, mention: str) -> None:
        changed = await self.governance.set_allowed(_guild(interaction), kind, item, allow)  # type: ignore[arg-type]
        text = said.allowed(mention, allow, changed)
        await self._changed(interaction, f"{kind}.{'add' if allow else 'remove'}", text, target=item)

    # -- blocklist ---------------------------------------------------------------------------------------

    @blocklist.command(name="add", description="Refuse prompts with this word (or regular expression)")
    @app_commands.describe(
        pattern=f"A word or words, or a regular expression (at most {MAX_RULE_LENGTH} characters)",
        regex="Treat the pattern as a regular expression (default: whole words)",
    )
    async def blocklist_add(
        self,
        interaction: Interaction,
        pattern: app_commands.Range[str, 1, MAX_RULE_LENGTH],
        regex: bool = False,
    ) -> None:
        try:
            rule = check_rule(pattern, regex)
        except InvalidRule as exc:
            raise UserFacingError(str(exc)) from None
        added = await self.governance.add_block_rule(
            _guild(interaction), rule.pattern, rule.is_regex, interaction.user.id
        )
        text = said.blocked(rule.pattern, rule.is_regex, added)
        await self._changed(interaction, "blocklist.add", text, pattern=rule.pattern, regex=rule.is_regex)

    @blocklist.command(name="remove", description="Stop refusing prompts with this word or pattern")
    @app_commands.describe(pattern="The word or pattern exactly as listed by /sora-admin blocklist list")
    async def blocklist_remove(
        self, interaction: Interaction, pattern: app_commands.Range[str, 1, MAX_RULE_LENGTH]
    ) -> None:
        removed = await self.governance.remove_block_rule(_guild(interaction), pattern.strip())
        await self._changed(
            interaction,
            "blocklist.remove",
            _("Removed.") if removed else _("That pattern was not on the list."),
            pattern=pattern,
        )

    @blocklist.command(name="list", description="Words and patterns refused in prompts")
    async def blocklist_list(self, interaction: Interaction) -> None:
        rules = await self.governance.blocklist(_guild(interaction))
        header, lines = said.blocklist(rules)
        await send_pages(interaction, PagedReply(header, lines, empty=_("The blocklist is empty.")))

    # -- approvals, audit, defaults ----------------------------------------------------------------------

    @approval_commands.command(name="on", description="Jobs wait for a moderator's approval in this channel")
    @app_commands.describe(
        channel="Where moderators approve or reject requests",
        trusted_role="Members with this role skip approval",
    )
    async def approvals_on(
        self, interaction: Interaction, channel: discord.TextChannel, trusted_role: discord.Role | None = None
    ) -> None:
        await self._configure(
            interaction,
            approvals_channel_id=channel.id,
            approvals_trusted_role_id=trusted_role.id if trusted_role else None,
        )
        text = said.approvals_on(channel.mention, trusted_role.mention if trusted_role else None)
        trusted = trusted_role and trusted_role.id
        await self._changed(interaction, "approvals.on", text, channel=channel.id, trusted_role=trusted)

    @approval_commands.command(name="off", description="Jobs no longer wait for approval")
    async def approvals_off(self, interaction: Interaction) -> None:
        await self._configure(interaction, approvals_channel_id=None, approvals_trusted_role_id=None)
        await self._changed(interaction, "approvals.off", _("Approval is off."))

    @audit_commands.command(
        name="channel", description="Post the audit trail in a channel (no channel: stop posting)"
    )
    @app_commands.describe(channel="Where to post the audit trail; leave empty to stop posting")
    async def audit_channel(
        self, interaction: Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        await self._configure(interaction, audit_channel_id=channel.id if channel else None)
        text = said.audit_channel(channel.mention if channel else None)
        await self._changed(interaction, "audit.channel", text, channel=channel.id if channel else None)

    @app_commands.command(name="defaults", description="Server defaults for /video options")
    @app_commands.choices(aspect_ratio=ASPECT_RATIO_CHOICES, model=MODEL_CHOICES, language=LANGUAGES)
    @app_commands.choices(duration=DURATION_CHOICES)
    @app_commands.describe(
        duration="Clip length when /video doesn't say",
        aspect_ratio="Landscape (16:9) or portrait (9:16) when /video doesn't say",
        model="Model when /video doesn't say (Pro costs more)",
        age_restricted_images="Allow input images in age-restricted channels only",
        strikes_to_block="Refused prompts after which a member is blocked",
        language="The language of the bot's posts here (clips, approval requests, audit trail)",
    )
    async def defaults(
        self,
        interaction: Interaction,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        model: str | None = None,
        age_restricted_images: bool | None = None,
        strikes_to_block: app_commands.Range[int, STRIKES_MIN, STRIKES_MAX] | None = None,
        language: str | None = None,
    ) -> None:
        given, details = defaults_given(
            duration=duration, aspect_ratio=aspect_ratio, model=model,
            age_restricted_images=age_restricted_images, strikes_to_block=strikes_to_block, language=language,
        )  # fmt: skip
        if not given:
            raise UserFacingError(_("Give at least one default to set."))
        await self._configure(interaction, **given)
        named = posts_language(chosen(language), interaction.guild_locale) if language is not None else None
        await self._changed(interaction, "defaults.set", said.defaults_set(given, named), **details)

    # -- members -----------------------------------------------------------------------------------------

    @user.command(name="block", description="Stop a member from making clips")
    @app_commands.describe(member="The member to block")
    async def user_block(self, interaction: Interaction, member: discord.Member) -> None:
        await self.governance.set_member(_guild(interaction), member.id, blocked=True)
        text = _("{member} is blocked.", member=member.mention)
        await self._changed(interaction, "member.block", text, requester=member.id)

    @user.command(name="unblock", description="Let a member make clips again (clears strikes)")
    @app_commands.describe(member="The member to unblock")
    async def user_unblock(self, interaction: Interaction, member: discord.Member) -> None:
        await self.governance.set_member(_guild(interaction), member.id, blocked=False)
        text = _("{member} is unblocked.", member=member.mention)
        await self._changed(interaction, "member.unblock", text, requester=member.id)

    @user.command(name="reset", description="Clear a member's strikes and start their usage afresh")
    @app_commands.describe(member="The member whose strikes and usage to reset")
    async def user_reset(self, interaction: Interaction, member: discord.Member) -> None:
        await self.governance.set_member(_guild(interaction), member.id, reset=True)
        text = _("{member}: strikes and usage reset.", member=member.mention)
        await self._changed(interaction, "member.reset", text, requester=member.id)

    @user.command(name="strikes", description="A member's strikes and standing")
    @app_commands.describe(member="The member whose strikes to show")
    async def user_strikes(self, interaction: Interaction, member: discord.Member) -> None:
        status = await self.governance.member(_guild(interaction), member.id)
        settings = await self.governance.settings(_guild(interaction))
        text = said.standing(member.mention, status.strikes, settings.strikes_to_block, status.blocked)
        await reply(interaction, text)

    @user.command(name="forget", description="Delete a member's prompts and clips from the bot")
    @app_commands.describe(member="The member whose prompts and clips to delete")
    async def user_forget(self, interaction: Interaction, member: discord.Member) -> None:
        removed = await forget_member(self.pipeline, self.governance, _guild(interaction), member.id)
        text = said.forgotten(member.mention, removed)
        await self._changed(interaction, "member.forget", text, target=member.id)

    # -- reports -----------------------------------------------------------------------------------------

    @app_commands.command(name="usage", description="Jobs and spend per member and per day, with a chart")
    @app_commands.describe(days="How many days back to count (default 7)")
    async def usage(self, interaction: Interaction, days: app_commands.Range[int, 1, 90] = 7) -> None:
        since = time.time() - days * 86400
        rows = await self.governance.spend_rows(_guild(interaction), since)
        lines, png = await usage_report(rows, days)
        # The biggest spenders first, as many as fit; the CSV export has everyone.
        await reply(interaction, fit(lines), file=discord.File(io.BytesIO(png), filename="spend.png"))

    @app_commands.command(name="export", description="The server's jobs as a CSV file")
    async def export(self, interaction: Interaction) -> None:
        rows = await self.governance.export_rows(_guild(interaction))
        data = jobs_export(rows)
        await self.audit.record(
            _guild(interaction), "jobs.export", actor_id=interaction.user.id,
            guild_locale=interaction.guild_locale, source="discord", rows=len(rows),
        )  # fmt: skip
        file = discord.File(io.BytesIO(data), filename="sora-jobs.csv")
        await reply(interaction, said.exported(len(rows)), file=file)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Admin(bot.settings, bot.governance, bot.audit, bot.pipeline))
