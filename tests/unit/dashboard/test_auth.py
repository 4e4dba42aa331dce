"""Login with Discord against the fake Discord: the code grant with scope identify, a `state` checked once,
and the session cookie it leaves (signed, HttpOnly, Secure, SameSite=Lax, expiring)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from bot.dashboard.auth import SESSION_SECONDS
from tests.unit.dashboard.conftest import DASHBOARD_URL, World


async def test_login_sends_the_browser_to_discord_asking_only_for_identify_with_a_fresh_state(
    world: World,
) -> None:
    async with world.browser() as browser:
        first = await browser.get("/login")
        second = await browser.get("/login")
    target = urlsplit(first.headers["location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == world.fake.base_url + "/oauth2/authorize"
    assert query["scope"] == ["identify"]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{DASHBOARD_URL}/callback"]
    assert query["client_id"] == [str(world.fake.app_id)]
    assert len(query["state"][0]) >= 32
    assert query["state"] != parse_qs(urlsplit(second.headers["location"]).query)["state"]


async def test_login_with_discord_signs_the_member_in_with_a_hardened_expiring_cookie(world: World) -> None:
    async with world.browser() as browser:
        done = await world.log_in(browser, world.users["approver"])
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        cookie = done.headers["set-cookie"].lower()
        for flag in ("httponly", "secure", "samesite=lax", f"max-age={SESSION_SECONDS}", "path=/"):
            assert flag in cookie
        page = await browser.get(f"/servers/{world.guild.id}")
    assert page.status_code == 200
    tokens = world.fake.requests_for("POST /oauth2/token")
    assert [r.status for r in tokens] == [200]
    assert world.fake.oauth_client_secret not in page.text


async def test_a_replayed_callback_is_refused_and_changes_nothing(world: World) -> None:
    async with world.browser() as browser:
        world.fake.oauth_user_id = world.users["member"]
        start = await browser.get("/login")
        async with httpx.AsyncClient() as discord_page:
            callback = (await discord_page.get(start.headers["location"])).headers["location"]
        assert (await browser.get(callback)).status_code == 303
        await browser.post("/logout", data={"csrf": "x"})  # refused (no Origin): still signed in
        replay = await browser.get(callback)
    assert replay.status_code == 400
    assert "expired" in replay.text
    # The replay never reached Discord: the state was spent at the first callback.
    assert len(world.fake.requests_for("POST /oauth2/token")) == 1


async def test_a_callback_without_the_state_this_browser_was_given_is_refused(world: World) -> None:
    world.fake.oauth_user_id = world.users["owner"]
    async with world.browser() as victim, world.browser() as attacker:
        start = await attacker.get("/login")
        async with httpx.AsyncClient() as discord_page:
            callback = (await discord_page.get(start.headers["location"])).headers["location"]
        # Login CSRF: the attacker's callback opened in the victim's browser, which never started a login.
        planted = await victim.get(callback)
        assert planted.status_code == 400
        # The same callback without its state, in the browser that did start: refused, and that spends it.
        stripped = callback.split("&state=")[0].split("?state=")[0]
        assert "state=" not in stripped
        missing = await attacker.get(stripped)
        assert missing.status_code == 400
        assert (await attacker.get(callback)).status_code == 400
        page = await attacker.get(f"/servers/{world.guild.id}")
    assert page.status_code == 303  # never signed in: sent to log in
    assert world.fake.requests_for("POST /oauth2/token") == []


async def test_a_non_ascii_state_is_refused_not_an_error(world: World) -> None:
    async with world.browser() as browser:
        await browser.get("/login")
        answer = await browser.get("/callback", params={"code": "x", "state": "é" * 43})
    assert answer.status_code == 400


async def test_a_session_expires_twelve_hours_after_login(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        world.now[0] += SESSION_SECONDS - 60
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 200
        world.now[0] += 120
        late = await browser.get(f"/servers/{world.guild.id}")
        assert late.status_code == 303
        assert late.headers["location"] == "/login"
        world.now[0] -= 120  # the cookie itself was dropped: going back in time does not revive it
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 303


async def test_discord_refusing_the_code_exchange_is_a_refused_login(world: World) -> None:
    world.fake.oauth_client_secret = "rotated-in-the-portal"
    async with world.browser() as browser:
        done = await world.log_in(browser, world.users["owner"])
        assert done.status_code == 400
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 303


async def test_the_fake_token_endpoint_refuses_what_discord_refuses(world: World) -> None:
    fake = world.fake
    fake.oauth_user_id = world.users["owner"]
    redirect = f"{DASHBOARD_URL}/callback"

    async def code(client: httpx.AsyncClient) -> str:
        query = f"client_id={fake.app_id}&response_type=code&scope=identify&redirect_uri={redirect}&state=s"
        answer = await client.get(f"{fake.base_url}/oauth2/authorize?{query}")
        return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]

    def form(the_code: str, **changes: str) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "code": the_code,
            "redirect_uri": redirect,
            "client_id": str(fake.app_id),
            "client_secret": fake.oauth_client_secret,
            **changes,
        }

    token_url = f"{fake.api_base}/oauth2/token"
    async with httpx.AsyncClient() as client:
        wrong_secret = await client.post(token_url, data=form(await code(client), client_secret="nope"))
        assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
        wrong_redirect = await client.post(
            token_url, data=form(await code(client), redirect_uri="https://evil.example/callback")
        )
        assert (wrong_redirect.status_code, wrong_redirect.json()["error"]) == (400, "invalid_grant")
        the_code = await code(client)
        granted = await client.post(token_url, data=form(the_code))
        assert granted.status_code == 200
        reused = await client.post(token_url, data=form(the_code))
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
        bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}
        me = await client.get(f"{fake.api_base}/users/@me", headers=bearer)
        assert me.json()["id"] == str(world.users["owner"])
        forged = await client.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401
        unregistered = await client.get(
            f"{fake.base_url}/oauth2/authorize?client_id={fake.app_id}&response_type=code&scope=identify"
            "&redirect_uri=https://evil.example/callback&state=s"
        )
        assert unregistered.status_code == 400
        unknown_scope = await client.get(
            f"{fake.base_url}/oauth2/authorize?client_id={fake.app_id}&response_type=code"
            f"&scope=identify+everything&redirect_uri={redirect}&state=s"
        )
        assert unknown_scope.status_code == 400
        fake.oauth_token_seconds = 0  # the next token expires at once
        short = await client.post(token_url, data=form(await code(client)))
        assert short.json()["expires_in"] == 0
        expired = {"Authorization": f"Bearer {short.json()['access_token']}"}
        assert (await client.get(f"{fake.api_base}/users/@me", headers=expired)).status_code == 401
