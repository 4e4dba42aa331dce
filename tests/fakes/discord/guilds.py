"""REST routes for the bot user, the application, guilds, members and the CDN."""

from __future__ import annotations

from tests.fakes.discord.core import DiscordCore
from tests.fakes.discord.records import _Answer, _Call, _error, _int, _refuse
from tests.fakes.discord.world import FakeGuild


class GuildsMixin(DiscordCore):
    """User, application, guild and CDN REST routes."""

    # -- REST: the bot user and the application---------------------------------------------------------------

    async def _get_me(self, call: _Call) -> _Answer:
        return _Answer(
            200, {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"}
        )

    async def _get_user(self, call: _Call) -> _Answer:
        uid = _int(call.params["user_id"])
        if uid not in self.users:
            raise _refuse(404, 10013)
        return _Answer(200, self.user_payload(uid))

    async def _get_application(self, call: _Call) -> _Answer:
        # No interactions_endpoint_url: with one, discord.py warns that gateway interactions are off.
        return _Answer(
            200,
            {
                "id": str(self.app_id),
                "name": self.bot_name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.user_payload(self.owner_user_id),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": self.bot_user,
                "approximate_guild_count": len(self.guilds),
            },
        )

    # -- REST: guilds and CDN ------------------------------------------------------------------------

    def _guild(self, call: _Call) -> FakeGuild:
        guild_id = _int(call.params["guild_id"])
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise _refuse(403, 50001) if guild_id in self.foreign_guild_ids else _refuse(404, 10004)
        return guild

    async def _get_my_guilds(self, call: _Call) -> _Answer:
        """`GET /users/@me/guilds`: the bot's servers as partial guilds, by id, `limit` (1-200, default 200)
        after `after` or before `before`."""
        query = call.rec.query
        try:
            limit = int(query.get("limit", "200"))
            after, before = int(query.get("after", "0")), int(query.get("before", str(2**64)))
        except ValueError:
            return _error(400, 50035, "Invalid Form Body")
        if not 1 <= limit <= 200:
            return _error(400, 50035, "Invalid Form Body")
        ids = sorted(gid for gid in self.guilds if after < gid < before)
        ids = ids[-limit:] if "before" in query and "after" not in query else ids[:limit]
        return _Answer(
            200,
            [
                {
                    "id": str(gid),
                    "name": self.guilds[gid].name,
                    "icon": None,
                    "banner": None,
                    "owner": False,
                    "permissions": str(self.guilds[gid].permissions_for(self.app_id)),
                    "features": [],
                }
                for gid in ids
            ],
        )

    async def _get_guild(self, call: _Call) -> _Answer:
        return _Answer(200, self._guild(call).payload())

    async def _get_guild_channels(self, call: _Call) -> _Answer:
        guild = self._guild(call)
        return _Answer(200, [guild.channel_payload(cid) for cid in guild.channels])

    async def _get_guild_roles(self, call: _Call) -> _Answer:
        return _Answer(200, [role.to_payload() for role in self._guild(call).roles.values()])

    async def _get_member(self, call: _Call) -> _Answer:
        guild = self._guild(call)
        uid = _int(call.params["user_id"])
        if uid not in guild.members:
            raise _refuse(404, 10007)
        return _Answer(200, guild.member_payload(uid))

    async def _cdn_get(self, call: _Call) -> _Answer:
        stored = self.cdn.get(_int(call.params["attachment_id"]))
        if stored is None or stored.filename != call.params["filename"]:
            return _Answer(404, raw=b"Not Found", content_type="text/plain")
        return _Answer(200, raw=stored.data, content_type=stored.content_type or "application/octet-stream")
