"""Dispatching interactions as a member would: slash commands, button/select clicks and modal submits."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.discord.commands import CommandsMixin, _check_option_value, _find_option, _python_option_type
from tests.fakes.discord.components import _find_component, _modal_submit_components
from tests.fakes.discord.constants import DM_UPLOAD_LIMIT
from tests.fakes.discord.messages import MessagesMixin
from tests.fakes.discord.records import Interaction
from tests.fakes.discord.world import FakeChannel, FakeGuild


class InteractionsMixin(MessagesMixin, CommandsMixin):
    """Interactions a member starts."""

    async def slash(
        self,
        name: str,
        options: Sequence[Mapping[str, Any]] | None = None,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        attachments: Mapping[str, tuple[str, bytes, str]] | None = None,
        subcommand: Sequence[str] | None = None,
        attachment_size_limit: int | None = None,
        registered_guild_id: int | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a chat-input command (type 2) as Discord's client would send it.

        ``options`` are ``{"name", "value"[, "type"]}``; a missing ``type`` comes from the synced command
        (else from the Python type). An option whose value is a key of ``attachments`` becomes an
        attachment option: the file is put on the fake CDN and in ``data.resolved.attachments``.
        User/role/channel options get their ``resolved`` entries from the world. When the command was
        synced, options are checked like Discord's client does (names, required, choices, bounds).
        ``data.guild_id`` is the command's registration guild: ``registered_guild_id``, else found from
        the synced commands (a guild command wins over a global one). ``attachment_size_limit`` defaults
        to the guild's upload limit.
        """
        guild = self._guild_for(guild_id, channel_id, user_id)
        found = self.find_command(name, guild_id)
        definition: dict[str, Any] | None = found[0] if found else None
        scope = registered_guild_id if registered_guild_id is not None else (found[1] if found else None)

        path = list(subcommand or [])
        level: dict[str, Any] | None = definition
        for part in path:
            level = _find_option(level, part) if level is not None else None
            if definition is not None and level is None:
                raise ValueError(f"/{name} has no subcommand {' '.join(path)!r}")
        resolved: dict[str, dict[str, Any]] = {}
        built = self._build_options(options or [], level, attachments or {}, resolved, guild, channel_id)
        for depth in reversed(range(len(path))):
            # The innermost name is the subcommand (type 1); any outer one is its group (type 2).
            kind = 1 if depth == len(path) - 1 else 2
            built = [{"type": kind, "name": path[depth], "options": built}]

        data: dict[str, Any] = {
            "id": str(definition["id"]) if definition else str(self.snowflake()),
            "name": name,
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        limit = attachment_size_limit or (guild.upload_limit if guild else DM_UPLOAD_LIMIT)
        return await self._dispatch_interaction(
            2, data, guild, channel_id, user_id, limit=limit, permissions=permissions, locale=locale
        )

    async def click(
        self,
        custom_id: str,
        *,
        message_id: int,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
        attachment_size_limit: int | None = None,
    ) -> Interaction:
        """Dispatch a component interaction (type 3) on a message.

        The ``message`` is the stored one when the bot posted it (guild and channel default to its);
        the component must be on it and enabled, as Discord only sends clicks it rendered. An unknown
        ``message_id`` gets a minimal bot message holding just that component, which is then stored.
        ``values`` are a select menu's choices (use ``component_type`` 3, 5, 6, 7 or 8). In a DM only
        its recipient can click. ``attachment_size_limit`` defaults to the guild's upload limit (a Nitro
        member's click reports more, like `slash`).
        """
        stored = self.messages.get(message_id)
        if stored is not None:
            if stored["deleted"]:
                raise ValueError(f"message {message_id} was deleted")
            channel_id = channel_id or int(stored["channel_id"])
            component = _find_component(stored["components"], custom_id)
            if component is None:
                raise ValueError(f"message {message_id} has no component {custom_id!r}")
            if component.get("type") != component_type:
                raise ValueError(
                    f"component {custom_id!r} has type {component.get('type')}, not {component_type}"
                )
            if component.get("disabled"):
                raise ValueError(f"component {custom_id!r} is disabled: Discord would not send the click")
        elif channel_id is None:
            raise ValueError("channel_id is needed for a message the fake does not know")
        if guild_id is None:
            channel = self.channels.get(channel_id)
            guild_id = channel.guild_id if channel else None
            if channel is not None and channel.recipient_id not in (None, user_id):
                raise ValueError(f"user {user_id} is not in DM channel {channel_id}: Discord sends no click")
        guild = self._guild_for(guild_id, channel_id, user_id)
        if stored is None:
            stored = self._minimal_message(message_id, channel_id, guild_id, custom_id, component_type)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type != 2:
            data["values"] = list(values or [])
        return await self._dispatch_interaction(
            3,
            data,
            guild,
            channel_id,
            user_id,
            limit=attachment_size_limit or (guild.upload_limit if guild else DM_UPLOAD_LIMIT),
            permissions=permissions,
            locale=locale,
            message=stored,
        )

    async def submit_modal(
        self,
        custom_id: str | None,
        values: Mapping[str, str],
        *,
        interaction: Interaction | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        message_id: int | None = None,
        permissions: int | None = None,
    ) -> Interaction:
        """Dispatch a modal submit (type 5) with text-input ``values`` by custom_id.

        The shown modal it answers is ``interaction``'s (the command or click the bot answered with a
        type-9 callback; ``custom_id`` may then be None), else the latest one the bot showed with this
        ``custom_id``: to ``user_id``'s interaction if there is one, else to anyone's. Two members can hold
        modals with the same custom_id; pass ``interaction`` to submit a particular one. The submit
        mirrors that modal's layout (action rows or labels), is checked against it (unknown or missing
        required inputs, lengths), and the guild, channel, user and message default to that interaction's.
        A ``user_id`` other than the opener's is delivered as is: Discord sends whoever submits, so the
        bot has to check it. Without a shown modal each value is sent in its own action row with a
        type-4 text input.
        """
        shown = interaction if interaction is not None else self._shown_modal(custom_id, user_id)
        if shown is not None:
            if shown.modal is None:
                raise ValueError(f"interaction {shown.id} was not answered with a modal")
            custom_id = custom_id or shown.modal.get("custom_id")
            if custom_id != shown.modal.get("custom_id"):
                raise ValueError(f"the modal shown is {shown.modal.get('custom_id')!r}, not {custom_id!r}")
            guild_id = guild_id if guild_id is not None else shown.guild_id
            channel_id = channel_id or shown.channel_id
            user_id = user_id or shown.user_id
            message_id = message_id or shown.message_id
            components = _modal_submit_components(shown.modal, values)
        else:
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
                for key, value in values.items()
            ]
        if custom_id is None:
            raise ValueError("custom_id is needed without a shown modal")
        if channel_id is None or user_id is None:
            raise ValueError("channel_id and user_id are needed for a modal the bot did not show")
        guild = self._guild_for(guild_id, channel_id, user_id)
        stored = self.messages.get(message_id) if message_id is not None else None
        return await self._dispatch_interaction(
            5,
            {"custom_id": custom_id, "components": components},
            guild,
            channel_id,
            user_id,
            limit=guild.upload_limit if guild else DM_UPLOAD_LIMIT,
            permissions=permissions,
            locale="en-US",
            message=stored,
        )

    def _shown_modal(self, custom_id: str | None, user_id: int | None) -> Interaction | None:
        """The latest interaction answered with a modal of this custom_id, the user's own first."""
        shown = [i for i in self.interactions.values() if i.modal and i.modal.get("custom_id") == custom_id]
        own = [i for i in shown if i.user_id == user_id]
        candidates = own or shown
        return candidates[-1] if candidates else None

    def expire_interaction(self, token: str) -> None:
        """Model the 15-minute token lifetime: callbacks get 404 10062, webhooks 401 50027."""
        self.interactions[token].expired = True

    def _guild_for(self, guild_id: int | None, channel_id: int, user_id: int) -> FakeGuild | None:
        if guild_id is None:
            if channel_id not in self.channels:
                # An interaction in a DM with the bot: the channel exists on Discord's side.
                self.channels[channel_id] = FakeChannel(channel_id, "", None, type=1, recipient_id=user_id)
            if user_id not in self.users:
                raise ValueError(f"unknown user {user_id}: add_user() or add_member() first")
            return None
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"unknown guild {guild_id}: add_guild() first")
        if channel_id not in guild.channels:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}: add_member() first")
        return guild

    def _minimal_message(
        self, message_id: int, channel_id: int, guild_id: int | None, custom_id: str, component_type: int
    ) -> dict[str, Any]:
        if component_type == 2:
            component: dict[str, Any] = {"type": 2, "style": 1, "label": "button", "custom_id": custom_id}
        else:
            component = {"type": component_type, "custom_id": custom_id, "options": [], "min_values": 1}
        msg = self._base_message(message_id, channel_id, guild_id, author=self.bot_user)
        msg["components"] = [{"type": 1, "components": [component]}]
        self.messages[message_id] = msg
        return msg

    def _build_options(
        self,
        options: Sequence[Mapping[str, Any]],
        level: Mapping[str, Any] | None,
        attachments: Mapping[str, tuple[str, bytes, str]],
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel_id: int,
    ) -> list[dict[str, Any]]:
        defined = {o["name"]: o for o in (level or {}).get("options", []) if o.get("type") not in (1, 2)}
        built: list[dict[str, Any]] = []
        for raw in options:
            opt = dict(raw)
            name = opt["name"]
            spec = defined.get(name)
            if level is not None and spec is None:
                raise ValueError(f"the command has no option {name!r} (has {sorted(defined)})")
            value = opt.get("value")
            if "type" not in opt:
                opt["type"] = spec["type"] if spec else _python_option_type(value, attachments)
            if spec is not None:
                _check_option_value(spec, value)
            kind = opt["type"]
            if kind == 11:
                opt["value"] = str(self._resolve_attachment(value, attachments, resolved))
            elif kind in (6, 7, 8, 9):
                self._resolve_snowflake(kind, int(str(value)), resolved, guild, channel_id)
                opt["value"] = str(value)
            built.append(opt)
        given = {o["name"] for o in built}
        missing = [n for n, o in defined.items() if o.get("required") and n not in given]
        if missing:
            raise ValueError(f"required options missing: {missing}")
        return built

    def _resolve_attachment(
        self,
        value: Any,
        attachments: Mapping[str, tuple[str, bytes, str]],
        resolved: dict[str, dict[str, Any]],
    ) -> int:
        key = str(value)
        if key not in attachments:
            raise ValueError(f"attachment option value {key!r} is not a key of attachments=")
        filename, data, content_type = attachments[key]
        att = self._store_attachment(filename, data, content_type=content_type, ephemeral=True)
        resolved.setdefault("attachments", {})[att["id"]] = att
        return int(att["id"])

    def _resolve_snowflake(
        self,
        kind: int,
        value: int,
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild | None,
        channel_id: int,
    ) -> None:
        if kind in (6, 9) and value in self.users:
            resolved.setdefault("users", {})[str(value)] = self.user_payload(value)
            if guild is not None and value in guild.members:
                member = guild.member_payload(value, with_user=False)
                member["permissions"] = str(guild.permissions_for(value, channel_id))
                resolved.setdefault("members", {})[str(value)] = member
        elif kind in (8, 9) and guild is not None and value in guild.roles:
            resolved.setdefault("roles", {})[str(value)] = guild.roles[value].to_payload()
        elif kind == 7 and guild is not None and value in guild.channels:
            channel = guild.channel_payload(value)
            channel["permissions"] = str(guild.permissions_for(self.app_id, value))
            resolved.setdefault("channels", {})[str(value)] = channel
        else:
            raise ValueError(f"option value {value} is not a known user/role/channel")

    async def _dispatch_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        guild: FakeGuild | None,
        channel_id: int,
        user_id: int,
        *,
        limit: int,
        permissions: int | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        iid = self.snowflake()
        token = f"fake-itoken-{iid}-{secrets.token_urlsafe(16)}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": kind,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": limit,  # required since discord.py 2.6
            "data": data,
            "channel_id": str(channel_id),
        }
        if guild is not None:
            member = guild.member_payload(user_id)
            stored = guild.members[user_id].permissions
            perms = permissions if permissions is not None else stored
            if perms is None:
                perms = guild.permissions_for(user_id, channel_id)
            member["permissions"] = str(perms)
            channel = guild.channel_payload(channel_id)
            channel["permissions"] = str(perms)
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                    "guild_locale": guild.preferred_locale,
                    # discord.py ignores the top-level channel_id: `channel` must be an object.
                    "channel": channel,
                    "member": member,
                    "app_permissions": str(guild.permissions_for(self.app_id, channel_id)),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "channel": {
                        "id": str(channel_id),
                        "type": 1,
                        "recipients": [self.user_payload(user_id)],
                        "last_message_id": None,
                        "flags": 0,
                    },
                    "user": self.user_payload(user_id),
                    "app_permissions": str(self.bot_permissions_in(channel_id)),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = self._public(message)
        inter = Interaction(
            id=iid,
            token=token,
            type=kind,
            payload=payload,
            guild_id=guild.id if guild else None,
            channel_id=channel_id,
            user_id=user_id,
            attachment_size_limit=limit,
            message_id=int(message["id"]) if message is not None else None,
        )
        self.interactions[token] = inter  # before dispatching: the bot may answer before dispatch returns
        try:
            await self.dispatch("INTERACTION_CREATE", payload)
        except RuntimeError:
            del self.interactions[token]  # no session of the guild's shard: Discord never sent it
            raise
        return inter
