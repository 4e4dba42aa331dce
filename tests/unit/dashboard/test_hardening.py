"""What a stranger can throw at the dashboard without an account: huge or odd bodies, a flood of stray
sign-in callbacks; and how the dashboard keeps Discord from banning the address it shares with the bot."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.dashboard.app import BODY_MAX
from bot.dashboard.auth import EXCHANGES_PER_MINUTE, Login
from bot.dashboard.discord_rest import REFUSED_MAX, DiscordRest, DiscordUnavailable, OAuthRefused
from tests.unit.dashboard.conftest import DASHBOARD_URL, World
from tests.unit.dashboard.test_access import csrf_of

ORIGIN = {"origin": DASHBOARD_URL}


async def test_a_body_over_the_limit_is_refused_before_it_is_read_logged_in_or_not(world: World) -> None:
    big = b"csrf=" + b"a" * BODY_MAX
    async with world.browser() as browser:
        stranger = await browser.post("/logout", content=big, headers={**ORIGIN, "content-type": FORM})
        await world.log_in(browser, world.users["owner"])
        token = await csrf_of((await browser.get("/")).text)

        async def chunks() -> object:  # no Content-Length: counted as it arrives
            yield f"csrf={token}&reason=".encode()
            for _ in range(BODY_MAX // 4096 + 2):
                yield b"x" * 4096

        streamed = await browser.post(
            f"/servers/{world.guild.id}/settings/budget",
            content=chunks(),  # type: ignore[arg-type]
            headers={**ORIGIN, "content-type": FORM},
        )
        just_right = await browser.post(
            "/logout", data={"csrf": token, "pad": "a" * (BODY_MAX - 200)}, headers=ORIGIN
        )
    assert stranger.status_code == 413
    assert streamed.status_code == 413
    assert just_right.status_code == 303  # a form under the limit is read as ever
    assert await world.governance.audit_entries(world.guild.id) == []


async def test_only_urlencoded_forms_are_taken(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        token = await csrf_of((await browser.get("/")).text)
        upload = await browser.post(
            f"/servers/{world.guild.id}/settings/budget",
            data={"csrf": token, "dollars_per_day": "5", "confirm": "1"},
            files={"file": ("x.bin", b"\0" * 1000)},
            headers=ORIGIN,
        )
        as_json = await browser.post("/logout", json={"csrf": token}, headers=ORIGIN)
    assert (upload.status_code, as_json.status_code) == (415, 415)
    assert (await world.governance.settings(world.guild.id)).budget_dollars_per_day is None


async def test_log_out_without_a_session_is_refused_without_reading_the_form(world: World) -> None:
    async with world.browser() as browser:
        answer = await browser.post("/logout", data={"csrf": "x"}, headers=ORIGIN)
    assert answer.status_code == 403


async def test_a_flood_of_stray_callbacks_reaches_discord_at_most_so_often(world: World) -> None:
    async with world.browser() as browser:
        answers = []
        for _ in range(EXCHANGES_PER_MINUTE + 5):
            start = await browser.get("/login")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            answers.append(
                (await browser.get("/callback", params={"state": state, "code": "junk"})).status_code
            )
        world.now[0] += 61  # a minute on: sign-ins are taken again
        await world.log_in(browser, world.users["owner"])
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 200
    assert answers == [400] * EXCHANGES_PER_MINUTE + [429] * 5
    assert len(world.fake.requests_for("POST /oauth2/token")) == EXCHANGES_PER_MINUTE + 1


async def test_after_a_429_nothing_is_sent_to_discord_until_its_retry_after(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("GET /guilds/{guild_id}", status=429, retry_after=0.3)
        asked = len(world.fake.requests_for("GET /guilds/{guild_id}"))
        for _ in range(3):
            try:
                await discord.guild(world.guild.id)
            except DiscordUnavailable:
                pass
            else:
                raise AssertionError("a 429 and the wait after it are Discord unavailable")
        assert len(world.fake.requests_for("GET /guilds/{guild_id}")) == asked + 1  # only the first was sent
        await asyncio.sleep(0.35)
        guild = await discord.guild(world.guild.id)
        assert guild is not None and guild.id == world.guild.id
    finally:
        await discord.close()


async def test_a_429_holds_back_its_route_of_that_server_only_and_a_global_one_every_route(
    world: World,
) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("GET /guilds/{guild_id}", status=429, retry_after=5.0)
        with pytest.raises(DiscordUnavailable):
            await discord.guild(world.guild.id)
        with pytest.raises(DiscordUnavailable):  # the same server's route waits
            await discord.guild(world.guild.id)
        assert await discord.guild(world.other.id) is not None  # another server's does not
        assert await discord.member(world.guild.id, world.users["owner"]) is not None  # nor another route
        world.fake.fail_next("GET /guilds/{guild_id}/channels", status=429, retry_after=5.0, is_global=True)
        with pytest.raises(DiscordUnavailable):
            await discord.channels(world.other.id)
        sent = len(world.fake.requests)
        for call in (discord.guild(world.other.id), discord.member(world.other.id, world.users["stranger"])):
            with pytest.raises(DiscordUnavailable):
                await call
        assert len(world.fake.requests) == sent  # a global 429: nothing at all is sent
    finally:
        await discord.close()


async def test_a_shared_429_is_not_counted_as_a_refusal() -> None:
    """Discord does not count 429s of a shared limit (X-RateLimit-Scope: shared) toward its ban."""
    answers = iter(
        [
            httpx.Response(
                429, json={"retry_after": 0, "global": False}, headers={"X-RateLimit-Scope": "shared"}
            ),
            httpx.Response(
                429, json={"retry_after": 0, "global": False}, headers={"X-RateLimit-Scope": "user"}
            ),
            httpx.Response(403, json={"code": 50001, "message": "Missing Access"}),
        ]
    )
    discord = DiscordRest("t", transport=httpx.MockTransport(lambda request: next(answers)))
    try:
        for _ in range(2):
            with pytest.raises(DiscordUnavailable):
                await discord.guild(1)
        assert await discord.guild(1) is None
        assert len(discord._refused) == 2  # the user-scoped 429 and the 403
    finally:
        await discord.close()


async def test_too_many_refusals_in_ten_minutes_stop_the_calls_before_discord_would_ban_the_host(
    world: World,
) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("GET /guilds/{guild_id}", status=403, code=50001, times=3)
        for _ in range(3):
            assert await discord.guild(world.guild.id) is None  # a 403 is "not the bot's server"
        assert len(discord._refused) == 3
        discord._refused += [discord._refused[-1]] * (REFUSED_MAX - 3)
        sent = len(world.fake.requests)
        try:
            await discord.guild(world.guild.id)
        except DiscordUnavailable:
            pass
        else:
            raise AssertionError("held back")
        assert len(world.fake.requests) == sent
        # Signing in is not the bot token's doing: it is not held back by them.
        with pytest.raises(OAuthRefused):
            await discord.exchange_code(
                "junk", client_id=1, client_secret="x", redirect_uri="https://x/callback"
            )
        assert len(world.fake.requests) == sent + 1
    finally:
        await discord.close()


async def test_the_oauth_client_secret_is_in_no_repr(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    login = Login(
        client_id=1, client_secret="very-secret-value", base_url=DASHBOARD_URL, discord=discord, clock=float
    )
    await discord.close()
    assert "very-secret-value" not in repr(login)
    assert world.fake.bot_token not in repr(discord)


async def test_over_https_the_session_cookie_is_a_host_only_one(world: World) -> None:
    async with world.browser() as browser:
        done = await world.log_in(browser, world.users["owner"])
    assert done.headers["set-cookie"].startswith("__Host-sora_dashboard=")
    assert "domain=" not in done.headers["set-cookie"].lower()


FORM = "application/x-www-form-urlencoded"
