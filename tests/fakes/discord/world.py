"""The fake Discord's world model: guilds, channels, roles, members and Discord's permission algorithm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.discord.core import DiscordCore
from tests.fakes.discord.constants import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    READ_MESSAGE_HISTORY,
    UPLOAD_LIMITS,
    VIEW_CHANNEL,
)

# What a member in time-out keeps of their permissions (Discord's "Permissions for Timed Out Members").
TIMED_OUT_KEEPS = VIEW_CHANNEL | READ_MESSAGE_HISTORY


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _str_ids(ids: Sequence[int]) -> list[str]:
    return [str(i) for i in ids]


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int
    managed: bool = False
    bot_id: int | None = None
    mentionable: bool = False

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class FakeChannel:
    id: int
    name: str
    guild_id: int | None  # None for a DM
    type: int = 0
    position: int = 0
    nsfw: bool = False
    topic: str | None = None
    overwrites: dict[int, tuple[int, int]] = field(default_factory=dict)  # target id -> (allow, deny)
    recipient_id: int | None = None  # DMs


@dataclass
class FakeMember:
    user_id: int
    roles: list[int]
    permissions: int | None = None  # overrides the computed `member.permissions` of interactions
    joined_at: str = field(default_factory=_now_iso)
    timed_out_until: str | None = None  # ISO 8601, as Discord's communication_disabled_until


class FakeGuild:
    """A guild the bot is in. Build it before the bot IDENTIFYs: GUILD_CREATE sends what exists then."""

    def __init__(
        self,
        fake: DiscordCore,
        guild_id: int,
        *,
        name: str,
        owner_id: int,
        premium_tier: int,
        bot_permissions: int,
        everyone_permissions: int,
    ) -> None:
        self._fake = fake
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.premium_tier = premium_tier
        self.preferred_locale = "en-US"  # the server's language (Community servers choose it)
        self.roles: dict[int, FakeRole] = {guild_id: FakeRole(guild_id, "@everyone", everyone_permissions, 0)}
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
        self.joined_at = _now_iso()
        # The bot's own managed role, as Discord creates it on install.
        self.bot_role_id = self.add_role(fake.bot_name, bot_permissions)
        self.roles[self.bot_role_id].managed = True
        self.roles[self.bot_role_id].bot_id = fake.app_id
        self.members[fake.app_id] = FakeMember(fake.app_id, [self.bot_role_id])

    @property
    def upload_limit(self) -> int:
        return UPLOAD_LIMITS.get(self.premium_tier, UPLOAD_LIMITS[0])

    @property
    def everyone_role_id(self) -> int:
        return self.id

    def add_channel(
        self,
        name: str,
        *,
        channel_id: int | None = None,
        nsfw: bool = False,
        overwrites: Mapping[int, tuple[int, int]] | None = None,
        topic: str | None = None,
    ) -> int:
        """Add a text channel; ``overwrites`` maps a role or user id to ``(allow, deny)`` bits."""
        cid = channel_id or self._fake.snowflake()
        channel = FakeChannel(
            cid,
            name,
            self.id,
            position=len(self.channels),
            nsfw=nsfw,
            topic=topic,
            overwrites=dict(overwrites or {}),
        )
        self.channels[cid] = channel
        self._fake.channels[cid] = channel
        return cid

    def add_role(self, name: str, permissions: int = 0, *, mentionable: bool = False) -> int:
        """Add a role; a bot connected already hears GUILD_ROLE_CREATE (before it, GUILD_CREATE has it)."""
        role_id = self._fake.snowflake()
        self.roles[role_id] = FakeRole(role_id, name, permissions, len(self.roles), mentionable=mentionable)
        self._role_event("GUILD_ROLE_CREATE", role_id)
        return role_id

    def set_role_permissions(self, role_id: int, permissions: int) -> None:
        """Change a role's permissions, as a server admin does; a connected bot hears GUILD_ROLE_UPDATE before
        the next event the fake sends (as Discord tells a bot with the guilds intent)."""
        self.roles[role_id].permissions = permissions
        self._role_event("GUILD_ROLE_UPDATE", role_id)

    def _role_event(self, event: str, role_id: int) -> None:
        if self._fake._sessions:  # a bot connected: its GUILD_CREATE went out already
            payload = {"guild_id": str(self.id), "role": self.roles[role_id].to_payload()}
            self._fake.pending_events.append((event, payload))

    def add_member(
        self,
        user_id: int | None = None,
        *,
        name: str = "alice",
        roles: Sequence[int] = (),
        permissions: int | None = None,
        bot: bool = False,
    ) -> int:
        """Add a member (and its user); ``permissions`` pins what interactions report for them."""
        uid = user_id or self._fake.snowflake()
        for role_id in roles:
            if role_id not in self.roles:
                raise ValueError(f"role {role_id} is not in guild {self.id}")
        self._fake.add_user(uid, name=name, bot=bot)
        self.members[uid] = FakeMember(uid, [r for r in roles if r != self.id], permissions)
        return uid

    def set_overwrite(self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0) -> None:
        """Change a channel's permission overwrite; a connected bot hears CHANNEL_UPDATE before the next
        event the fake sends (as Discord tells a bot with the guilds intent)."""
        self.channels[channel_id].overwrites[target_id] = (allow, deny)
        self._fake.pending_events.append(("CHANNEL_UPDATE", self.channel_payload(channel_id)))

    # -- permissions ---------------------------------------------------------------------------------

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions
        for role_id in member.roles if member else ():
            perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_for(self, user_id: int, channel_id: int | None = None) -> int:
        """Discord's algorithm: base role permissions, then @everyone, role and member overwrites; a member
        in time-out keeps only View Channel and Read Message History (owner and Administrator exempt)."""
        perms = self.base_permissions(user_id)
        if perms == ALL_PERMISSIONS:
            return perms
        if self.timed_out(user_id):
            perms &= TIMED_OUT_KEEPS
        if channel_id is None:
            return perms
        channel = self.channels.get(channel_id)
        if channel is None:
            return perms
        allow, deny = channel.overwrites.get(self.id, (0, 0))
        perms = (perms & ~deny) | allow
        member = self.members.get(user_id)
        role_allow = role_deny = 0
        for role_id in member.roles if member else ():
            a, d = channel.overwrites.get(role_id, (0, 0))
            role_allow |= a
            role_deny |= d
        perms = (perms & ~role_deny) | role_allow
        allow, deny = channel.overwrites.get(user_id, (0, 0))
        perms = (perms & ~deny) | allow
        if not perms & VIEW_CHANNEL:
            return 0
        return perms & TIMED_OUT_KEEPS if self.timed_out(user_id) else perms

    def timed_out(self, user_id: int) -> bool:
        """The member's time-out (communication_disabled_until) has not ended."""
        member = self.members.get(user_id)
        until = member.timed_out_until if member is not None else None
        return until is not None and datetime.fromisoformat(until) > datetime.now(UTC)

    # -- payloads ------------------------------------------------------------------------------------

    def member_payload(self, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        member = self.members[user_id]
        data: dict[str, Any] = {
            "roles": _str_ids(member.roles),
            "flags": 0,  # required by discord.py (member.py)
            "joined_at": member.joined_at,
            "nick": None,
            "avatar": None,
            "banner": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "premium_since": None,
            "communication_disabled_until": member.timed_out_until,
        }
        if with_user:
            data["user"] = self._fake.user_payload(user_id)
        return data

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        channel = self.channels[channel_id]
        overwrites = [
            {
                "id": str(target),
                "type": 0 if target in self.roles else 1,
                "allow": str(allow),
                "deny": str(deny),
            }
            for target, (allow, deny) in channel.overwrites.items()
        ]
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(self.id),
            "name": channel.name,
            "position": channel.position,
            "nsfw": channel.nsfw,
            "topic": channel.topic,
            "permission_overwrites": overwrites,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def payload(self) -> dict[str, Any]:
        """The guild object of REST ``GET /guilds/{id}`` (no channels or members)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": [0, 2, 7, 14][min(self.premium_tier, 3)],
            "preferred_locale": self.preferred_locale,
            "features": [],
            "roles": [role.to_payload() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "vanity_url_code": None,
            "application_id": None,
            "approximate_member_count": len(self.members),
        }

    def gateway_payload(self) -> dict[str, Any]:
        """The GUILD_CREATE ``d``: a full guild with channels and every member (no chunking needed)."""
        data = self.payload()
        data.pop("approximate_member_count")
        data.update(
            {
                "joined_at": self.joined_at,
                "large": False,
                "unavailable": False,
                "member_count": len(self.members),  # == len(members): discord.py skips chunking
                "members": [self.member_payload(uid) for uid in self.members],
                "channels": [self.channel_payload(cid) for cid in self.channels],
                "threads": [],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return data


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that gets a guild's events: Discord's ``(guild_id >> 22) % shard_count``."""
    return (guild_id >> 22) % shard_count
