"""/sora-admin: a server's admins decide who may generate, where, how much, with which model, whether a
moderator approves first, and see what was made and what it cost. Every change is confirmed privately and
written to the audit log."""

from __future__ import annotations

import asyncio
import io
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.domain.limits import LimitRule
from bot.domain.models import TERMINAL
from bot.errors import UserFacingError
from bot.files import delete_inputs, delete_job_files
from bot.moderation.prompt_rules import MAX_RULE_LENGTH, InvalidRule, check_rule
from bot.store.forget import Forgotten
from bot.tree import reply
from bot.ui.embeds import escape
from bot.ui.export import jobs_csv
from bot.ui.pages import PagedReply, fit, send_pages

if TYPE_CHECKING:
    from bot.client import SoraBot

Interaction = discord.Interaction["SoraBot"]
EXPORT_COLUMNS = [
    "id", "state", "user_id", "channel_id", "job_type", "prompt", "duration", "aspect_ratio", "seed",
    "estimated_cost", "actual_cost", "approved_by", "outcome", "created_at", "finished_at", "prodia_job_id",
]  # fmt: skip


def _yes(value: bool | None) -> str:
    return "yes" if value else "no"


def _pattern(pattern: str) -> str:
    """A blocklist pattern shown as written: escaped rather than in a code span, which a backtick in the
    pattern would end early. `escape` breaks every masked link; escape_markdown only a line's first."""
    return escape(pattern)


def _dollars(value: float | None) -> str:
    return f"${value:.2f}" if value is not None else "none"


def _fmt_rule(rule: LimitRule) -> str:
    parts = [
        f"{name.replace('_', ' ')} {getattr(rule, name)}"
        for name in ("jobs_per_hour", "video_seconds_per_day", "concurrent")
        if getattr(rule, name) is not None
    ]
    parts += [
        f"{name} {'yes' if getattr(rule, name) else 'no'}"
        for name in ("pro", "hd")
        if getattr(rule, name) is not None
    ]
    return ", ".join(parts) or "nothing set"


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
    approvals = app_commands.Group(
        name="approvals", description="Moderator approval before any money is spent"
    )
    audit = app_commands.Group(name="audit", description="Where the audit trail is posted")
    user = app_commands.Group(name="user", description="One member's standing")

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        # default_member_permissions only hides the command; server admins can override it, so check again.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def _changed(self, interaction: Interaction, action: str, message: str, **details: Any) -> None:
        assert interaction.guild_id is not None
        await self.bot.audit.record(interaction.guild_id, action, actor_id=interaction.user.id, **details)
        await reply(interaction, message)

    # -- limits ------------------------------------------------------------------------------------------

    @limits.command(name="show", description="Show the limits that apply in this server")
    async def limits_show(self, interaction: Interaction) -> None:
        assert interaction.guild_id is not None
        settings = self.bot.settings
        rules = await self.bot.governance.limit_rules(interaction.guild_id)
        server = await self.bot.governance.settings(interaction.guild_id)
        lines = [
            f"Bot defaults: jobs per hour {settings.default_jobs_per_hour}, video seconds per day "
            f"{settings.default_video_seconds_per_day}, concurrent {settings.default_concurrent_jobs}, "
            f"pro {_yes(settings.default_allow_pro)}, hd {_yes(settings.default_allow_hd)}",
            f"Daily budget: {_dollars(server.budget_dollars_per_day)}",
        ]
        for rule in rules:
            who = {
                "guild": "Server defaults",
                "role": f"<@&{rule.target_id}>",
                "user": f"<@{rule.target_id}>",
            }[rule.scope]
            lines.append(f"{who}: {_fmt_rule(rule)}")
        # Up to 25 role rules and a rule per member: paged.
        await send_pages(interaction, PagedReply("", lines))

    @limits.command(name="set", description="Set limits for the server, a role or a member")
    @app_commands.describe(
        role="Limits for members with this role (the most generous role applies)",
        user="Limits for one member (wins over roles)",
        jobs_per_hour="Jobs a member may start per hour",
        video_seconds_per_day="Seconds of video a member may make per day",
        concurrent="Jobs a member may have queued or running at once",
        pro="Whether Sora 2 Pro may be used",
        hd="Whether 1080p may be used",
    )
    async def limits_set(
        self,
        interaction: Interaction,
        role: discord.Role | None = None,
        user: discord.Member | None = None,
        jobs_per_hour: app_commands.Range[int, 0, 10_000] | None = None,
        video_seconds_per_day: app_commands.Range[int, 0, 1_000_000] | None = None,
        concurrent: app_commands.Range[int, 0, 100] | None = None,
        pro: bool | None = None,
        hd: bool | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        if role is not None and user is not None:
            raise UserFacingError("Choose a role or a member, not both.")
        scope, target = (
            ("role", role.id) if role else ("user", user.id) if user else ("guild", interaction.guild_id)
        )
        values = {"jobs_per_hour": jobs_per_hour, "video_seconds_per_day": video_seconds_per_day,
                  "concurrent": concurrent, "pro": pro, "hd": hd}  # fmt: skip
        if all(v is None for v in values.values()):
            raise UserFacingError("Give at least one limit to set.")
        rule = await self.bot.governance.set_limit_rule(
            interaction.guild_id,
            LimitRule(scope, target, **values),  # type: ignore[arg-type]
        )
        who = role.mention if role else user.mention if user else "the server"
        await self._changed(
            interaction, "limits.set", f"Limits for {who}: {_fmt_rule(rule)}.", scope=scope, target=target,
            **{k: v for k, v in values.items() if v is not None},
        )  # fmt: skip

    @limits.command(name="clear", description="Remove the limits set for a role or a member")
    @app_commands.describe(role="The role whose limits to remove", user="The member whose limits to remove")
    async def limits_clear(
        self, interaction: Interaction, role: discord.Role | None = None, user: discord.Member | None = None
    ) -> None:
        assert interaction.guild_id is not None
        if (role is None) == (user is None):
            raise UserFacingError("Choose one role or one member.")
        scope, target = ("role", role.id) if role else ("user", user.id)  # type: ignore[union-attr]
        removed = await self.bot.governance.clear_limit_rule(interaction.guild_id, scope, target)  # type: ignore[arg-type]
        who = role.mention if role else user.mention  # type: ignore[union-attr]
        await self._changed(
            interaction, "limits.clear",
            f"Cleared the limits for {who}." if removed else f"{who} had no limits set.",
            scope=scope, target=target,
        )  # fmt: skip

    @budget.command(
        name="set", description="The most the server may spend per day (UTC); leave empty for none"
    )
    @app_commands.describe(dollars_per_day="US dollars a day; leave empty for no budget")
    async def budget_set(
        self, interaction: Interaction, dollars_per_day: app_commands.Range[float, 0, 1_000_000] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.update_settings(
            interaction.guild_id, budget_dollars_per_day=dollars_per_day
        )
        text = (
            f"Daily budget set to ${dollars_per_day:.2f}."
            if dollars_per_day is not None
            else "Daily budget removed."
        )
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
        assert interaction.guild_id is not None
        found = await self.bot.governance.allowed(interaction.guild_id, "channels")
        await reply(interaction, fit([f"<#{c}>" for c in sorted(found)]) or "Every channel (none listed).")

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
        assert interaction.guild_id is not None
        found = await self.bot.governance.allowed(interaction.guild_id, "roles")
        await reply(interaction, fit([f"<@&{r}>" for r in sorted(found)]) or "Everyone (no roles listed).")

    async def _allow(self, interaction: Interaction, kind: str, item: int, allow: bool, mention: str) -> None:
        assert interaction.guild_id is not None
        changed = await self.bot.governance.set_allowed(interaction.guild_id, kind, item, allow)  # type: ignore[arg-type]
        verb = "Allowed" if allow else "No longer allowed"
        text = f"{verb}: {mention}." if changed else f"Nothing to change for {mention}."
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
        assert interaction.guild_id is not None
        try:
            rule = check_rule(pattern, regex)
        except InvalidRule as exc:
            raise UserFacingError(str(exc)) from None
        added = await self.bot.governance.add_block_rule(
            interaction.guild_id, rule.pattern, rule.is_regex, interaction.user.id
        )
        kind = "regex" if rule.is_regex else "word"
        text = f"Blocked {kind}: {_pattern(rule.pattern)}" if added else "Already blocked."
        await self._changed(interaction, "blocklist.add", text, pattern=rule.pattern, regex=rule.is_regex)

    @blocklist.command(name="remove", description="Stop refusing prompts with this word or pattern")
    @app_commands.describe(pattern="The word or pattern exactly as listed by /sora-admin blocklist list")
    async def blocklist_remove(
        self, interaction: Interaction, pattern: app_commands.Range[str, 1, MAX_RULE_LENGTH]
    ) -> None:
        assert interaction.guild_id is not None
        removed = await self.bot.governance.remove_block_rule(interaction.guild_id, pattern.strip())
        await self._changed(
            interaction,
            "blocklist.remove",
            "Removed." if removed else "That pattern was not on the list.",
            pattern=pattern,
        )

    @blocklist.command(name="list", description="Words and patterns refused in prompts")
    async def blocklist_list(self, interaction: Interaction) -> None:
        assert interaction.guild_id is not None
        rules = await self.bot.governance.blocklist(interaction.guild_id)
        lines = [f"{'regex' if r else 'word'}: {_pattern(p)}" for p, r in rules]
        pages = PagedReply(f"{len(lines)} rule(s):", lines, empty="The blocklist is empty.")
        await send_pages(interaction, pages)

    # -- approvals, audit, defaults ----------------------------------------------------------------------

    @approvals.command(name="on", description="Jobs wait for a moderator's approval in this channel")
    @app_commands.describe(
        channel="Where moderators approve or reject requests",
        trusted_role="Members with this role skip approval",
    )
    async def approvals_on(
        self, interaction: Interaction, channel: discord.TextChannel, trusted_role: discord.Role | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.update_settings(
            interaction.guild_id,
            approvals_channel_id=channel.id,
            approvals_trusted_role_id=trusted_role.id if trusted_role else None,
        )
        text = f"Approval is on: requests go to {channel.mention}" + (
            f"; {trusted_role.mention} skips it." if trusted_role else "."
        )
        await self._changed(
            interaction,
            "approvals.on",
            text,
            channel=channel.id,
            trusted_role=trusted_role and trusted_role.id,
        )

    @approvals.command(name="off", description="Jobs no longer wait for approval")
    async def approvals_off(self, interaction: Interaction) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.update_settings(
            interaction.guild_id, approvals_channel_id=None, approvals_trusted_role_id=None
        )
        await self._changed(interaction, "approvals.off", "Approval is off.")

    @audit.command(name="channel", description="Post the audit trail in a channel (no channel: stop posting)")
    @app_commands.describe(channel="Where to post the audit trail; leave empty to stop posting")
    async def audit_channel(
        self, interaction: Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.update_settings(
            interaction.guild_id, audit_channel_id=channel.id if channel else None
        )
        text = f"The audit trail is posted in {channel.mention}." if channel else "Audit posts are off."
        await self._changed(interaction, "audit.channel", text, channel=channel.id if channel else None)

    @app_commands.command(name="defaults", description="Server defaults for /video options")
    @app_commands.choices(
        aspect_ratio=[Choice(name="16:9", value="16:9"), Choice(name="9:16", value="9:16")],
        model=[Choice(name="sora-2", value="sora-2"), Choice(name="sora-2-pro", value="sora-2-pro")],
    )
    @app_commands.choices(duration=[Choice(name=f"{n} seconds", value=n) for n in (4, 8, 12)])
    @app_commands.describe(
        duration="Clip length when /video doesn't say",
        aspect_ratio="Landscape (16:9) or portrait (9:16) when /video doesn't say",
        model="Model when /video doesn't say (Pro costs more)",
        age_restricted_images="Allow input images in age-restricted channels only",
        strikes_to_block="Refused prompts after which a member is blocked",
    )
    async def defaults(
        self,
        interaction: Interaction,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        model: str | None = None,
        age_restricted_images: bool | None = None,
        strikes_to_block: app_commands.Range[int, 1, 100] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        values = {
            "default_duration": duration,
            "default_aspect_ratio": aspect_ratio,
            "default_model": model,
            "age_restricted_images": age_restricted_images,
            "strikes_to_block": strikes_to_block,
        }
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            raise UserFacingError("Give at least one default to set.")
        await self.bot.governance.update_settings(interaction.guild_id, **given)
        text = "Defaults set: " + ", ".join(
            f"{k.removeprefix('default_').replace('_', ' ')} {v}" for k, v in given.items()
        )
        await self._changed(interaction, "defaults.set", text + ".", **given)

    # -- members -----------------------------------------------------------------------------------------

    @user.command(name="block", description="Stop a member from making clips")
    @app_commands.describe(member="The member to block")
    async def user_block(self, interaction: Interaction, member: discord.Member) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.set_member(interaction.guild_id, member.id, blocked=True)
        await self._changed(interaction, "member.block", f"{member.mention} is blocked.", requester=member.id)

    @user.command(name="unblock", description="Let a member make clips again (clears strikes)")
    @app_commands.describe(member="The member to unblock")
    async def user_unblock(self, interaction: Interaction, member: discord.Member) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.set_member(interaction.guild_id, member.id, blocked=False)
        await self._changed(
            interaction, "member.unblock", f"{member.mention} is unblocked.", requester=member.id
        )

    @user.command(name="reset", description="Clear a member's strikes and start their usage afresh")
    @app_commands.describe(member="The member whose strikes and usage to reset")
    async def user_reset(self, interaction: Interaction, member: discord.Member) -> None:
        assert interaction.guild_id is not None
        await self.bot.governance.set_member(interaction.guild_id, member.id, reset=True)
        await self._changed(
            interaction, "member.reset", f"{member.mention}: strikes and usage reset.", requester=member.id
        )

    @user.command(name="strikes", description="A member's strikes and standing")
    @app_commands.describe(member="The member whose strikes to show")
    async def user_strikes(self, interaction: Interaction, member: discord.Member) -> None:
        assert interaction.guild_id is not None
        status = await self.bot.governance.member(interaction.guild_id, member.id)
        settings = await self.bot.governance.settings(interaction.guild_id)
        state = "blocked" if status.blocked else "not blocked"
        await reply(
            interaction,
            f"{member.mention}: {status.strikes} of {settings.strikes_to_block} strikes, {state}.",
        )

    @user.command(name="forget", description="Delete a member's prompts and clips from the bot")
    @app_commands.describe(member="The member whose prompts and clips to delete")
    async def user_forget(self, interaction: Interaction, member: discord.Member) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True)
        for job in await self.bot.pipeline.store.list_jobs(
            user_id=member.id, guild_id=interaction.guild_id, limit=100_000
        ):
            if job.state not in TERMINAL:
                await self.bot.pipeline.scheduler.cancel(job.id)
        forgotten = await self.bot.governance.forget_member(interaction.guild_id, member.id)
        removed = await asyncio.to_thread(_delete_files, self.bot.settings.output_dir, forgotten)
        await self._changed(
            interaction, "member.forget",
            f"Forgot {member.mention}: prompts removed, {removed} file(s) deleted.", target=member.id,
        )  # fmt: skip

    # -- reports -----------------------------------------------------------------------------------------

    @app_commands.command(name="usage", description="Jobs and spend per member and per day, with a chart")
    @app_commands.describe(days="How many days back to count (default 7)")
    async def usage(self, interaction: Interaction, days: app_commands.Range[int, 1, 90] = 7) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True)
        from bot.ui.charts import DaySpend, spend_chart  # noqa: PLC0415 - matplotlib loads only when asked

        since = time.time() - days * 86400
        rows = await self.bot.governance.spend_rows(interaction.guild_id, since)
        per_user: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
        per_day: dict[Any, list[float]] = defaultdict(lambda: [0, 0.0])
        for user_id, created_at, dollars, _ in rows:
            day = datetime.fromtimestamp(created_at, tz=UTC).date()
            for bucket in (per_user[user_id], per_day[day]):
                bucket[0] += 1
                bucket[1] += dollars
        lines = [f"Last {days} day(s): {len(rows)} job(s), ${sum(r[2] for r in rows):.2f}"]
        lines += [
            f"<@{u}>: {int(n)} job(s), ${d:.2f}"
            for u, (n, d) in sorted(per_user.items(), key=lambda i: -i[1][1])
        ]
        series = [DaySpend(day, dollars, int(n)) for day, (n, dollars) in sorted(per_day.items())]
        png = await asyncio.to_thread(spend_chart, series, title=f"Spend per day, last {days} days")
        # The biggest spenders first, as many as fit; the CSV export has everyone.
        await reply(interaction, fit(lines), file=discord.File(io.BytesIO(png), filename="spend.png"))

    @app_commands.command(name="export", description="The server's jobs as a CSV file")
    async def export(self, interaction: Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True)
        rows = await self.bot.governance.export_rows(interaction.guild_id)
        data = jobs_csv(rows, EXPORT_COLUMNS)
        await self.bot.audit.record(
            interaction.guild_id, "jobs.export", actor_id=interaction.user.id, rows=len(rows)
        )
        await reply(
            interaction, f"{len(rows)} job(s).", file=discord.File(io.BytesIO(data), filename="sora-jobs.csv")
        )


def _delete_files(output_dir: Path, forgotten: Forgotten) -> int:
    """The forgotten jobs' own files, and the input images no other job uses; returns how many went."""
    return delete_job_files(output_dir, forgotten.job_ids) + delete_inputs(output_dir, forgotten.inputs)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(Admin(bot))
