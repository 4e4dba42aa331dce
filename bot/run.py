"""What running the bot as a process needs besides the bot: Discord's addresses (proxies, tests), and a clean
close on SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import discord
import yarl

from bot.settings import Settings
from bot.tasks import spawn


def point_at(settings: Settings) -> None:
    """Send REST and gateway traffic to DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL (proxies, tests)."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = settings.discord_api_base_url
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
            settings.discord_gateway_url.rstrip("/") + "/"
        )


def close_on_signals(bot: discord.Client) -> None:
    """A container stop is SIGTERM: close cleanly, so in-flight jobs are handed over at once."""
    loop = asyncio.get_running_loop()

    def close() -> None:
        spawn(bot.close(), "closing on a signal")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, close)
