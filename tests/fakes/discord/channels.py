"""REST routes for channels and their messages (history, posts with nonces, edits, deletes, DMs), and
messages members post."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tests.fakes.discord.constants import (
    ATTACH_FILES,
    DM_UPLOAD_LIMIT,
    EPHEMERAL,
    MANAGE_MESSAGES,
    NONCE_WINDOW,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)
from tests.fakes.discord.messages import MessagesMixin
from tests.fakes.discord.records import _Answer, _Call, _form_error, _int, _refuse
from tests.fakes.discord.world import FakeChannel


class ChannelsMixin(MessagesMixin):
    """Channel and message REST routes."""

    def _channel(self, call: _Call, *, need: int = VIEW_CHANNEL, missing_code: int = 50001) -> FakeChannel:
        channel = self.channels.get(_int(call.params["channel_id"]))
        if channel is None:
            raise _refuse(404, 10003)
        if self.permissions_enforced and channel.guild_id is not None:
            perms = self.bot_permissions_in(channel.id)
            if not perms & VIEW_CHANNEL:
                raise _refuse(403, 50001)
            if perms & need != need:
                raise _refuse(403, missing_code)
        return channel

    def _channel_payload(self, channel: FakeChannel) -> dict[str, Any]:
        if channel.guild_id is None:
            recipient = channel.recipient_id or 0
            return {
                "id": str(channel.id),
                "type": 1,
                "recipients": [self.user_payload(recipient)],
                "last_message_id": None,
                "flags": 0,
            }
        return self.guilds[channel.guild_id].channel_payload(channel.id)

    def _channel_message(self, call: _Call, channel: FakeChannel) -> dict[str, Any]:
        msg = self.messages.get(_int(call.params["message_id"]))
        if msg is None or msg["deleted"] or msg["channel_id"] != str(channel.id) or msg["flags"] & EPHEMERAL:
            raise _refuse(404, 10008)  # ephemeral messages are not reachable through the channel
        return msg

    async def _get_channel(self, call: _Call) -> _Answer:
        return _Answer(200, self._channel_payload(self._channel(call)))

    async def _typing(self, call: _Call) -> _Answer:
        self._channel(call, need=SEND_MESSAGES, missing_code=50013)
        return _Answer(204)

    async def _history(self, call: _Call) -> _Answer:
        channel = self._channel(call, need=VIEW_CHANNEL | READ_MESSAGE_HISTORY)
        try:
            limit = int(call.rec.query.get("limit", "50"))
        except ValueError:
            raise _form_error({"limit": "Value is not int."}) from None
        if not 1 <= limit <= 100:
            raise _form_error({"limit": "Int value should be between 1 and 100."})
        before = _int(call.rec.query.get("before", str(1 << 63)))
        after = _int(call.rec.query.get("after", "0"))
        visible = [
            m
            for mid, m in self.messages.items()
            if m["channel_id"] == str(channel.id)
            and not m["deleted"]
            and not m["flags"] & EPHEMERAL
            and after < mid < before
        ]
        visible.sort(key=lambda m: int(m["id"]), reverse=True)
        if "after" in call.rec.query and "before" not in call.rec.query:
            visible = visible[-limit:]  # the oldest ones after `after`, still newest first
        return _Answer(200, [self._public(m) for m in visible[:limit]])

    async def _post_message(self, call: _Call) -> _Answer:
        need = VIEW_CHANNEL | SEND_MESSAGES | (ATTACH_FILES if call.uploads else 0)
        channel = self._channel(call, need=need, missing_code=50013)
        if channel.guild_id is None and channel.recipient_id in self.dm_closed:
            raise _refuse(403, 50007)
        body = call.body if isinstance(call.body, dict) else {}
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            raise _form_error({"nonce": "Must be 25 or fewer in length."})
        key = str(nonce)
        if nonce is not None and body.get("enforce_nonce"):
            self._forget_old_nonces()
            seen = self._nonces.get(key)
            if seen is not None and not self.messages[seen[0]]["deleted"]:
                # Discord: a repeated enforced nonce returns the earlier message and creates nothing.
                return _Answer(200, self._public(self.messages[seen[0]]))
        guild = self.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        self._check_uploads(call, guild.upload_limit if guild else DM_UPLOAD_LIMIT)
        message = self._create_message(channel.id, body, call.uploads, flags=int(body.get("flags") or 0))
        if nonce is not None:
            message["nonce"] = nonce
            if body.get("enforce_nonce"):
                self._nonces[key] = (int(message["id"]), time.monotonic())
        await self._echo_message(message, "MESSAGE_CREATE")
        return _Answer(200, self._public(message))

    def _forget_old_nonces(self) -> None:
        horizon = time.monotonic() - NONCE_WINDOW
        for key in [k for k, (_, at) in self._nonces.items() if at < horizon]:
            del self._nonces[key]

    async def _get_message(self, call: _Call) -> _Answer:
        channel = self._channel(call, need=VIEW_CHANNEL | READ_MESSAGE_HISTORY)
        return _Answer(200, self._public(self._channel_message(call, channel)))

    async def _edit_message(self, call: _Call) -> _Answer:
        channel = self._channel(call)
        msg = self._channel_message(call, channel)
        if msg["author"]["id"] != str(self.app_id):
            raise _refuse(403, 50005)
        guild = self.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        return await self._edited(call, msg, guild.upload_limit if guild else DM_UPLOAD_LIMIT)

    async def _delete_message(self, call: _Call) -> _Answer:
        channel = self._channel(call)
        msg = self._channel_message(call, channel)
        if (
            msg["author"]["id"] != str(self.app_id)
            and not self.bot_permissions_in(channel.id) & MANAGE_MESSAGES
        ):
            raise _refuse(403, 50013)
        await self._delete(msg)
        return _Answer(204)

    async def _create_dm(self, call: _Call) -> _Answer:
        body = call.body if isinstance(call.body, dict) else {}
        uid = _int(str(body.get("recipient_id", "0")))
        if uid not in self.users:
            raise _form_error({"recipient_id": "Unknown user"})
        cid = self._dm_by_user.get(uid)
        if cid is None:
            cid = self.snowflake()
            self._dm_by_user[uid] = cid
            self.channels[cid] = FakeChannel(cid, "", None, type=1, recipient_id=uid)
        return _Answer(200, self._channel_payload(self.channels[cid]))

    # -- members' messages ---------------------------------------------------------------------------

    async def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str,
        *,
        attachments: Sequence[tuple[str, bytes, str]] = (),
    ) -> int:
        """A message posted by a user (e.g. for history reads); echoed as MESSAGE_CREATE. Returns its id."""
        guild = self.guild_of_channel(channel_id)
        mid = self.snowflake()
        msg = self._base_message(
            mid, channel_id, guild.id if guild else None, author=self.user_payload(user_id)
        )
        msg["content"] = content
        msg["attachments"] = [
            self._store_attachment(name, data, content_type=ctype) for name, data, ctype in attachments
        ]
        self._compute_mentions(msg)
        self.messages[mid] = msg
        await self._echo_message(msg, "MESSAGE_CREATE")
        return mid
