"""A server's own settings and its allowed channels and roles."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Literal

from bot.store.guild_cache import GuildRepository

StaffLevel = Literal["approver", "viewer"]
STAFF_LEVELS: tuple[StaffLevel, ...] = ("approver", "viewer")

SETTING_COLUMNS = frozenset(
    {
        "language",
        "budget_dollars_per_day",
        "approvals_channel_id",
        "approvals_trusted_role_id",
        "audit_channel_id",
        "default_duration",
        "default_aspect_ratio",
        "default_model",
        "age_restricted_images",
        "strikes_to_block",
    }
)


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A server's own settings; None means "not set here" (the bot's default applies)."""

    guild_id: int
    budget_dollars_per_day: float | None = None
    approvals_channel_id: int | None = None
    approvals_trusted_role_id: int | None = None
    audit_channel_id: int | None = None
    default_duration: int | None = None
    default_aspect_ratio: str | None = None
    default_model: str | None = None
    age_restricted_images: bool = False
    strikes_to_block: int = 3
    language: str | None = None  # the posts' language (a Discord locale); None: the server's own


class GuildSettingsRepository(GuildRepository):
    """Settings and allowed lists, per server."""

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self._cached(("settings", guild_id), lambda: self._settings(guild_id))

    async def _settings(self, guild_id: int) -> GuildSettings:
        row = await self.db.reader.fetch_one("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        if row is None:
            return GuildSettings(guild_id)
        values = {f.name: row[f.name] for f in fields(GuildSettings)}
        values["age_restricted_images"] = bool(values["age_restricted_images"])
        return GuildSettings(**values)

    async def update_settings(self, guild_id: int, **values: Any) -> GuildSettings:
        unknown = set(values) - SETTING_COLUMNS
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        columns = ["guild_id", "updated_at", *values]
        placeholders = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{name} = excluded.{name}" for name in ["updated_at", *values])
        async with self._write(guild_id) as conn:
            await conn.execute(
                f"INSERT INTO guild_settings ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
                f" ON CONFLICT (guild_id) DO UPDATE SET {updates}",
                (guild_id, time.time(), *values.values()),
            )
        return await self.settings(guild_id)

    # -- channels and roles ------------------------------------------------------------------------------

    async def allowed(self, guild_id: int, kind: Literal["channels", "roles"]) -> set[int]:
        return set(await self._cached((kind, guild_id), lambda: self._allowed(guild_id, kind)))

    async def _allowed(self, guild_id: int, kind: Literal["channels", "roles"]) -> set[int]:
        table, column = (
            ("allowed_channels", "channel_id") if kind == "channels" else ("allowed_roles", "role_id")
        )
        return {
            int(row[0])
            for row in await self.db.reader.fetch_all(
                f"SELECT {column} FROM {table} WHERE guild_id = ?",  # noqa: S608
                (guild_id,),
            )
        }

    async def set_allowed(
        self, guild_id: int, kind: Literal["channels", "roles"], item_id: int, allow: bool
    ) -> bool:
        """Add or remove one allowed channel or role; returns whether anything changed."""
        table, column = (
            ("allowed_channels", "channel_id") if kind == "channels" else ("allowed_roles", "role_id")
        )
        async with self._write(guild_id) as conn:
            if allow:
                sql = f"INSERT INTO {table} (guild_id, {column}) VALUES (?, ?) ON CONFLICT DO NOTHING"  # noqa: S608
            else:
                sql = f"DELETE FROM {table} WHERE guild_id = ? AND {column} = ?"  # noqa: S608
            return await conn.execute(sql, (guild_id, item_id)) > 0

    # -- dashboard staff roles ---------------------------------------------------------------------------

    async def staff_roles(self, guild_id: int) -> dict[int, StaffLevel]:
        """The roles the server gives dashboard access to: role id -> "approver" or "viewer"."""
        return dict(await self._cached(("staff", guild_id), lambda: self._staff_roles(guild_id)))

    async def _staff_roles(self, guild_id: int) -> dict[int, StaffLevel]:
        rows = await self.db.reader.fetch_all(
            "SELECT role_id, level FROM staff_roles WHERE guild_id = ?", (guild_id,)
        )
        return {int(row[0]): row[1] for row in rows if row[1] in STAFF_LEVELS}

    async def set_staff_role(self, guild_id: int, role_id: int, level: StaffLevel | None) -> bool:
        """Give a role approver or viewer access (None: take it away); returns whether anything changed."""
        if level is not None and level not in STAFF_LEVELS:
            raise ValueError(f"unknown staff level {level!r}")
        async with self._write(guild_id) as conn:
            if level is None:
                return (
                    await conn.execute(
                        "DELETE FROM staff_roles WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
                    )
                    > 0
                )
            return (
                await conn.execute(
                    "INSERT INTO staff_roles (guild_id, role_id, level) VALUES (?, ?, ?)"
                    " ON CONFLICT (guild_id, role_id) DO UPDATE SET level = excluded.level"
                    " WHERE staff_roles.level <> excluded.level",
                    (guild_id, role_id, level),
                )
                > 0
            )
