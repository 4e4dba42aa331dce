"""The server's rules applied to one request: where, who, which model, what prompt, and whether a moderator
must approve it first. Nothing here spends or reserves anything."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.limits import MemberPolicy, resolve
from bot.domain.models import JobRequest, JobState
from bot.errors import FOREIGN_INSTALL, NotAllowed, PromptBlocked, UserFacingError, is_content_rejection
from bot.i18n.messages import _, join_list, n_
from bot.moderation.prompt_rules import PromptCheckTimeout, Rule, find_blocked
from bot.services.audit import Audit
from bot.services.show_limit import SHOW_WINDOW, SHOWN, check_shows
from bot.settings import Settings
from bot.store.governance import Governance
from bot.store.guild_settings import GuildSettings
from bot.store.jobs import JobStore

if TYPE_CHECKING:
    from bot.domain.models import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Admission:
    """What the server's rules say about an acceptable request."""

    policy: MemberPolicy
    settings: GuildSettings
    needs_approval: bool


# What posting a clip in a channel takes (Discord's Create Message): seeing the channel, sending in it (in a
# thread, Send Messages in Threads instead), the result card's embed (without Embed Links it is silently
# dropped) and the clip itself. Names as Discord's server settings show them (translated when shown, as
# Discord's own settings are).
_POST_PERMISSIONS = {
    "view_channel": _("View Channel"),
    "send_messages": _("Send Messages"),
    "embed_links": _("Embed Links"),
    "attach_files": _("Attach Files"),
}
_IN_THREADS = _("Send Messages in Threads")
# The most allowed channels a refusal names (a mention is at most 23 characters): the refusal stays short.
_CHANNELS_NAMED = 25
_THREADS = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


def role_ids(member: discord.abc.User | discord.Member) -> set[int]:
    return {role.id for role in getattr(member, "roles", [])}


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks for a clip, and the server and channel it is for. From a server interaction these are its
    own; from a button in a direct message they are the job's server and channel, and the member as
    fetched from that server (roles included), so the server's rules apply the same way."""

    guild_id: int
    channel_id: int
    user: discord.abc.User | discord.Member
    channel: Any = None  # the channel when known, for the age-restricted check

    @classmethod
    def of(cls, interaction: discord.Interaction[Any]) -> Asker:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        return cls(interaction.guild_id, interaction.channel_id, interaction.user, interaction.channel)


def installation_refusal(interaction: discord.Interaction[Any]) -> str | None:
    """Why an interaction did not come through this server's own installation (None: it did).

    In a server the server's install must have authorized it: a user install would spend the operator's
    money outside every server's rules. Outside a server no command runs. Buttons (and their forms) in the
    bot's own direct messages do: the bot put them on a clip it sent there, Discord names the owners
    variously ("0": "0" for the server install, or the user's install "1"), and whatever they do is
    checked as the job's requester, in the job's own server, under its rules. Other private channels
    (group DMs, DMs between users) are refused: the bot never posts there."""
    owners = interaction._integration_owners  # the parsed {install type: id}; discord.py has no getter
    if interaction.guild_id is not None:
        if interaction.is_guild_integration():
            return None
        return f"not authorized by this server's installation (owners {owners})"
    if interaction.type is discord.InteractionType.application_command:
        return "a command outside a server"
    if interaction.context.dm_channel:
        return None
    return f"a private channel that is not the bot's direct messages (owners {owners})"


def _require_permissions(granted: discord.Permissions, *, thread: bool, here: bool) -> None:
    """Refuse (NotAllowed) unless the bot may post a clip in the channel: the interaction's own (`here`) or
    the job's, elsewhere."""
    needed = dict(_POST_PERMISSIONS)
    if thread:
        del needed["send_messages"]
        needed["send_messages_in_threads"] = _IN_THREADS
    missing = [_(name) for flag, name in needed.items() if not getattr(granted, flag)]
    if not missing:
        return
    if here:
        raise NotAllowed(
            n_(
                "I can't post clips in this channel: I'm missing the {permissions} permission here. "
                "Ask a server admin to grant it, or use /video in another channel (or with private: True).",
                "I can't post clips in this channel: I'm missing the {permissions} permissions here. "
                "Ask a server admin to grant them, or use /video in another channel (or with private: True).",
                len(missing),
                permissions=_and(missing),
            )
        )
    raise NotAllowed(
        n_(
            "I can't post clips in that channel: I'm missing the {permissions} permission there. "
            "Ask a server admin to grant it, or use /video in another channel (or with private: True).",
            "I can't post clips in that channel: I'm missing the {permissions} permissions there. "
            "Ask a server admin to grant them, or use /video in another channel (or with private: True).",
            len(missing),
            permissions=_and(missing),
        )
    )


def moderates_here(interaction: discord.Interaction[Any]) -> bool:
    """Manage Messages, Manage Server or Administrator in the interaction's channel (its overwrites counted):
    who may cancel or delete someone else's story there, as for a clip's own buttons there."""
    permissions = interaction.permissions
    return permissions.manage_messages or permissions.manage_guild or permissions.administrator


class Guard:
    """Checks a member's request against the server's settings; raises a user-facing error when refused."""

    def __init__(self, settings: Settings, governance: Governance, store: JobStore, audit: Audit) -> None:
        self.settings = settings
        self.governance = governance
        self.store = store
        self.audit = audit
        # One member's re-posts in this process, one at a time (see `reposting`).
        self._reposts: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def policy(self, guild_id: int, member: discord.abc.User | discord.Member) -> MemberPolicy:
        rules = await self.governance.limit_rules(guild_id)
        return resolve(self.settings.limit_defaults(), rules, role_ids(member), member.id)

    async def installation_allowed(self, interaction: discord.Interaction[Any]) -> bool:
        """False (logged, and audited when in a server) for an interaction that did not come through this
        server's own installation; the caller refuses it privately."""
        reason = installation_refusal(interaction)
        if reason is None:
            return True
        log.warning("interaction %s by %s refused: %s", interaction.id, interaction.user.id, reason)
        if interaction.guild_id is not None:
            await self.audit.record(
                interaction.guild_id, "interaction.refused", actor_id=interaction.user.id, reason=reason
            )
        return False

    async def job_for_button(
        self, interaction: discord.Interaction[Any], job_id: int, *, works_in_dms: bool
    ) -> Job:
        """The one admission of a job's button (and the forms it opens), which the tree makes for commands:
        through this server's installation, a job of this server; from a direct message (a clip sent there)
        only its requester's, and only buttons that `works_in_dms`, acting in the job's own server."""
        if not await self.installation_allowed(interaction):
            raise NotAllowed(_(FOREIGN_INSTALL))
        job = await self.store.get(job_id)
        if interaction.guild_id is None:
            if job is None or job.guild_id is None or interaction.user.id != job.user_id:
                raise UserFacingError(_("Only the person who asked for this clip can use its buttons."))
            if not works_in_dms:
                raise UserFacingError(_("That button only works in the server."))
        elif job is None or job.guild_id != interaction.guild_id:
            raise UserFacingError(_("That job no longer exists."))
        return job

    async def may_generate(self, interaction: discord.Interaction[Any]) -> GuildSettings:
        """Who and where, before any work is done."""
        return await self.may_generate_as(Asker.of(interaction))

    async def may_generate_as(self, asker: Asker) -> GuildSettings:
        """`may_generate` for a member asking from elsewhere (a button in a direct message)."""
        guild_id, user = asker.guild_id, asker.user
        settings = await self.governance.settings(guild_id)
        if (await self.governance.member(guild_id, user.id)).blocked:
            raise NotAllowed(
                _("You are blocked from making clips in this server. A server admin can unblock you.")
            )
        channels = await self.governance.allowed(guild_id, "channels")
        if channels and asker.channel_id not in channels:
            raise NotAllowed(_not_here(sorted(channels)))
        roles = await self.governance.allowed(guild_id, "roles")
        if roles and not roles & role_ids(user):
            raise NotAllowed(_("Making clips here needs one of the roles this server's admins chose."))
        return settings

    def require_post_permissions(
        self, interaction: discord.Interaction[Any], *, private: bool = False
    ) -> None:
        """Refuse a job whose clip the bot could not post in this channel, before any work or quota: once
        Prodia is paid, a clip that can't be posted is money spent for nothing. A private clip goes through
        the interaction (or a DM), which needs no permission in the channel."""
        if private or interaction.guild_id is None:
            return
        thread = getattr(interaction.channel, "type", None) in _THREADS
        _require_permissions(interaction.app_permissions, thread=thread, here=True)

    def require_post_permissions_in(self, client: discord.Client, guild_id: int, channel_id: int) -> None:
        """The same, for a channel the interaction did not come from (a button pressed in a DM posts to the
        job's channel): the bot's permissions there, from the gateway's cache."""
        guild = client.get_guild(guild_id)
        channel = guild.get_channel_or_thread(channel_id) if guild is not None else None
        if guild is None or channel is None:
            raise NotAllowed(_("I can't reach the channel of this clip any more, so I can't post it there."))
        thread = isinstance(channel, discord.Thread)
        _require_permissions(channel.permissions_for(guild.me), thread=thread, here=False)

    async def admit(
        self,
        interaction: discord.Interaction[Any],
        request: JobRequest,
        *,
        has_image: bool,
        settings: GuildSettings | None = None,
    ) -> Admission:
        """Model, resolution, image and prompt rules; the member's policy and whether approval is due.
        `settings` are the server's, when `may_generate` already checked who and where."""
        return await self.admit_as(Asker.of(interaction), request, has_image=has_image, settings=settings)

    async def admit_as(
        self,
        asker: Asker,
        request: JobRequest,
        *,
        has_image: bool,
        settings: GuildSettings | None = None,
    ) -> Admission:
        """`admit` for a member asking from elsewhere (a button in a direct message)."""
        if settings is None:
            settings = await self.may_generate_as(asker)
        policy = await self.policy(asker.guild_id, asker.user)
        if request.model == "sora-2-pro" and not policy.pro:
            raise NotAllowed(_("Sora 2 Pro isn't enabled for you in this server; use the sora-2 model."))
        if request.effective_resolution == "1080p" and not policy.hd:
            raise NotAllowed(_("1080p isn't enabled for you in this server; use 720p."))
        if has_image:
            _require_age_restricted(
                asker, settings, _("In this server, images can only be animated in age-restricted channels.")
            )
        await self._screen(asker, request, settings)
        trusted = settings.approvals_trusted_role_id
        needs_approval = settings.approvals_channel_id is not None and (
            trusted is None or trusted not in role_ids(asker.user)
        )
        return Admission(policy, settings, needs_approval)

    @asynccontextmanager
    async def reposting(
        self, interaction: discord.Interaction[Any], asker: Asker, job: Job
    ) -> AsyncIterator[GuildSettings]:
        """The one admission for posting a finished clip again (/show, "Post to channel"), before any file
        work: `async with guard.reposting(...): post`. A re-post is counted (an audit row, which the hourly
        limit reads) once the block ends without an error. One member's re-posts in this process wait for
        each other, so two at once can't both take the hour's last slot."""
        key = (asker.guild_id, asker.user.id)
        lock = self._reposts.get(key)
        if lock is None:
            lock = self._reposts[key] = asyncio.Lock()
        async with lock:
            settings = await self._admit_repost(interaction, asker, job)
            yield settings
            await self.audit.record(
                asker.guild_id, SHOWN, actor_id=asker.user.id, job_id=job.id, channel=asker.channel_id
            )

    async def _admit_repost(
        self, interaction: discord.Interaction[Any], asker: Asker, job: Job
    ) -> GuildSettings:
        """Who and where (blocks, channels, roles), a removal that holds, the age-restricted rule for image
        clips, the bot's permissions in the channel, and the member's re-posts this hour."""
        settings = await self.may_generate_as(asker)
        removed_by = await self.store.clip_removed_by(job.id)
        if removed_by is not None and removed_by != job.user_id:
            raise UserFacingError(
                _("A moderator removed this clip (job {job}); it can't be shown again.", job=job.id)
            )
        if removed_by is not None and asker.user.id != job.user_id:
            raise UserFacingError(
                _("Its requester removed this clip (job {job}); only they can show it again.", job=job.id)
            )
        if job.request.image_path is not None:
            _require_age_restricted(
                asker,
                settings,
                _("In this server, clips made from images can only be posted in age-restricted channels."),
            )
        if interaction.channel_id == asker.channel_id:
            self.require_post_permissions(interaction)
        else:  # from a direct message the clip goes to the job's channel
            self.require_post_permissions_in(interaction.client, asker.guild_id, asker.channel_id)
        now = time.time()
        check_shows(
            await self.governance.audit_times(asker.guild_id, asker.user.id, SHOWN, now - SHOW_WINDOW),
            now,
        )
        return settings

    async def _screen(self, asker: Asker, request: JobRequest, settings: GuildSettings) -> None:
        rules = [Rule(p, r) for p, r in await self.governance.blocklist(asker.guild_id)]
        if not rules:
            return
        try:
            match = await asyncio.to_thread(find_blocked, request.prompt, rules)
        except PromptCheckTimeout:
            log.warning("guild %d: a blocklist regex timed out on a prompt", asker.guild_id)
            raise PromptBlocked(
                _("Your prompt could not be checked against this server's rules; please reword it.")
            ) from None
        if match is None:
            return
        await self.strike(asker.guild_id, asker.user.id, "blocked prompt", request.prompt, settings)
        raise PromptBlocked(
            _(
                "Your prompt uses words this server doesn't allow, so it was not sent. "
                "This counts as a strike."
            )
        )

    async def on_transition(self, job: Job, previous: JobState) -> None:
        """A prompt Prodia refuses for its content is a strike, like a blocked one (a store listener)."""
        if job.state is JobState.FAILED and job.guild_id is not None and is_content_rejection(job.error):
            where, prompt = job.target.get("guild_locale"), job.request.prompt
            await self.strike(  # with its job: the dashboard's audit log hides a private job's strike with it
                job.guild_id, job.user_id, "rejected by Prodia", prompt, guild_locale=where, job_id=job.id
            )

    async def strike(
        self,
        guild_id: int,
        user_id: int,
        reason: str,
        prompt: str,
        settings: GuildSettings | None = None,
        *,
        guild_locale: object = None,
        job_id: int | None = None,
    ) -> None:
        """One more strike (earned by `job_id`, if any); at the server's limit the member is blocked. Both go
        to the audit log (posted in the server's language: `guild_locale`, its own, if the caller knows)."""
        settings = settings or await self.governance.settings(guild_id)
        status = await self.governance.add_strike(guild_id, user_id, settings.strikes_to_block)
        await self.audit.record(
            guild_id, "member.strike", actor_id=None, guild_locale=guild_locale, job_id=job_id,
            requester=user_id, reason=reason, prompt=prompt, strikes=status.strikes, blocked=status.blocked,
        )  # fmt: skip


def _require_age_restricted(asker: Asker, settings: GuildSettings, refusal: str) -> None:
    """Refuse an image (or a clip made from one) outside an age-restricted channel when the server says so."""
    if not settings.age_restricted_images:
        return
    channel = asker.channel
    if not (isinstance(channel, discord.TextChannel) and channel.is_nsfw()):
        raise NotAllowed(refusal)


def _and(names: list[str]) -> str:
    """Permission names as a list in the current language ("A, B and C", "A、B、C")."""
    return join_list(names)


def _not_here(channels: list[int]) -> str:
    """The refusal of a channel that is not among the allowed ones, naming (some of) those."""
    named = ", ".join(f"<#{c}>" for c in channels[:_CHANNELS_NAMED])
    others = len(channels) - _CHANNELS_NAMED
    if others <= 0:
        return _("Clips can't be made in this channel. Try {channels}.", channels=named)
    return n_(
        "Clips can't be made in this channel. Try {channels} or {count} other channel.",
        "Clips can't be made in this channel. Try {channels} or {count} other channels.",
        others,
        channels=named,
    )
