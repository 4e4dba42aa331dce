"""`sora-bot dashboard` as a real process: uvicorn on 127.0.0.1, Login with Discord against the fake Discord
over real HTTP, the overview page, a clean stop on SIGTERM, and no secret in its output."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import httpx

from bot.dashboard.access import MANAGE_MESSAGES
from bot.store.db import Database
from tests.e2e.test_cli import cli_env, finish, start
from tests.fakes.discord import FakeDiscord

SECRET = "dashboard-secret-" + "k" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_up(url: str, proc: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            assert proc.poll() is None, proc.communicate()
            try:
                await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
            else:
                return
    raise AssertionError("the dashboard did not start")


async def test_the_dashboard_process_logs_a_member_in_and_stops_cleanly(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "bot.db")
    await database.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with FakeDiscord() as fake:
        fake.oauth_redirect_uris.append(f"{url}/callback")
        guild = fake.add_guild(name="Team")
        fake.oauth_user_id = guild.add_member(name="ann", roles=[guild.add_role("Mods", MANAGE_MESSAGES)])
        env = cli_env(
            tmp_path,
            DISCORD_TOKEN=fake.bot_token,
            DISCORD_API_BASE_URL=fake.api_base,
            DASHBOARD_URL=url,
            DASHBOARD_PORT=str(port),
            DASHBOARD_SECRET=SECRET,
            DISCORD_CLIENT_ID=str(fake.app_id),
            DISCORD_CLIENT_SECRET=fake.oauth_client_secret,
            LOG_LEVEL="DEBUG",
        )
        proc = start(["dashboard"], env)
        try:
            await wait_until_up(url, proc)
            async with httpx.AsyncClient(base_url=url, follow_redirects=True) as browser:
                home = await browser.get("/login")  # to Discord, back to /callback, then home
                assert home.status_code == 200
                assert [str(r.url.path) for r in home.history] == ["/login", "/oauth2/authorize", "/callback"]
                page = await browser.get(f"/servers/{guild.id}")
                assert page.status_code == 200
                assert "You see this server as its approver." in page.text
                cookie = home.history[-1].headers["set-cookie"].lower()
                assert "httponly" in cookie
                assert "secure" not in cookie  # plain http on 127.0.0.1 only
        finally:
            proc.send_signal(signal.SIGTERM)
            result = await finish(proc, timeout=30)
    assert result.code == 0, result.stderr
    for secret in (SECRET, fake.oauth_client_secret, fake.bot_token):
        assert secret not in result.stdout + result.stderr


async def test_the_dashboard_refuses_to_start_without_its_settings(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DISCORD_TOKEN="t", DASHBOARD_URL="http://dashboard.example.org")
    result = await finish(start(["dashboard"], env), timeout=30)
    assert result.code == 2
    assert "DASHBOARD_URL is invalid: Value error, must be an https:// URL" in result.stderr
    env = cli_env(tmp_path, DISCORD_TOKEN="t", DASHBOARD_URL="https://dashboard.example.org")
    result = await finish(start(["dashboard"], env), timeout=30)
    assert result.code == 2
    assert "DASHBOARD_SECRET is not set" in result.stderr
