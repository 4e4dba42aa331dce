"""Logging in and out in a real browser: the home page's "Log in with Discord", Discord's consent, the
session cookie, the server's overview, Log out, and a server page that sends a logged-out browser to log in
through Discord and then back to the page it asked for."""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qs, urlsplit

from playwright.async_api import Request, expect

from tests.browser.site import BrowserWorld

COOKIE = "sora_dashboard"


async def test_log_in_see_the_server_log_out_and_be_sent_to_log_in_again(world: BrowserWorld) -> None:
    page, stage = world.page, world.stage
    await world.governance.update_settings(stage.guild_id, budget_dollars_per_day=5.0)
    await world.add_job("a paper boat on a pond", user_id=stage.alice, cost=0.8)

    await page.goto(f"{world.url}/")
    await expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    await world.shot("home-logged-out")
    world.fake.oauth_user_id = world.owner
    await page.get_by_role("main").get_by_role("link", name="Log in with Discord").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert page.url == f"{world.url}/"
    await expect(page.get_by_role("main")).to_contain_text("You are signed in")
    await world.shot("logged-in")
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http on 127.0.0.1

    await page.goto(world.server)
    await expect(page.get_by_role("heading", level=1)).to_have_text("generation")
    spend = page.get_by_role("row", name="Today (UTC)")
    await expect(spend).to_contain_text("$0.80")
    await expect(spend).to_contain_text("of $5.00 a day")
    await expect(page.get_by_role("main")).to_contain_text("a paper boat on a pond")
    await world.shot("overview")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("main").get_by_role("link", name="Log in with Discord")).to_be_visible()
    assert page.url == f"{world.url}/"
    assert COOKIE not in {c["name"] for c in await page.context.cookies()}
    await world.shot("logged-out")

    # Logged out, the server's page sends the browser to log in: to Discord's consent page (the fake consents
    # at once, as the owner), back to the dashboard's callback, and on to the page it asked for.
    answer = await page.goto(world.server)
    assert answer is not None
    chain: list[SplitResult] = []
    request: Request | None = answer.request
    while request is not None:
        chain.insert(0, urlsplit(request.url))
        request = request.redirected_from
    server_path = urlsplit(world.server).path
    assert [u.path for u in chain] == [server_path, "/login", "/oauth2/authorize", "/callback", server_path]
    assert chain[2].netloc == urlsplit(world.fake.base_url).netloc
    query = parse_qs(chain[2].query)
    assert query["redirect_uri"] == [f"{world.url}/callback"]
    assert query["client_id"] == [str(world.fake.app_id)] and query["scope"] == ["identify"]
    await expect(page.get_by_role("heading", level=1)).to_have_text("generation")
    assert page.url == world.server
    await world.shot("logged-in-again-on-the-server-page")
