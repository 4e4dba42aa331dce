"""Running a real discord.py client against the fake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import discord
import yarl

from tests.fakes.discord.fake import FakeDiscord


@contextlib.contextmanager
def redirect_discord(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base, gateway and asset URLs at ``fake`` (process-wide), then restore them."""
    http_route = discord.http.Route
    gateway = discord.gateway.DiscordWebSocket
    asset = discord.asset.Asset
    saved = (http_route.BASE, gateway.DEFAULT_GATEWAY, asset.BASE)
    http_route.BASE = fake.api_base
    gateway.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    asset.BASE = f"{fake.base_url}/assets"  # only URLs get built; nothing may reach discord.com
    try:
        yield
    finally:
        http_route.BASE, gateway.DEFAULT_GATEWAY, asset.BASE = saved


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, bot: discord.Client, *, token: str | None = None, ready_timeout: float = 10.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``bot.start()`` against ``fake`` until the block ends; yields the start task once ready.

    Waits for ``on_ready`` (use ``guild_ready_timeout=0.05`` on the bot to keep that fast). On exit the bot
    is closed, and if ``bot.start()`` crashed (e.g. a KeyError from a malformed gateway payload) that
    exception is raised here, so a test cannot pass over a dead bot.
    """
    with redirect_discord(fake):
        task: asyncio.Task[None] = asyncio.create_task(bot.start(token or fake.bot_token), name="bot.start")
        fake.watch(task)
        try:
            async with asyncio.timeout(ready_timeout):
                # Poll: `wait_until_ready()` raises until login has created the client's ready event.
                while not bot.is_ready():
                    if task.done():
                        task.result()  # raises the crash
                        raise RuntimeError("bot.start() returned before the bot was ready")
                    await asyncio.sleep(0.01)
            yield task
        finally:
            await bot.close()
            done, _ = await asyncio.wait({task}, timeout=5.0)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif not task.cancelled() and task.exception() is not None:
                raise RuntimeError("bot.start() crashed") from task.exception()
