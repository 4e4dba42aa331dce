"""The server's overview in a real browser: what members wrote shows as they typed it (markup, markdown,
script) and never runs; the worst-case prompt wraps inside the page; and the bot on the same database."""

from __future__ import annotations

from playwright.async_api import expect

from bot.domain.models import PROMPT_MAX
from bot.store.guild_cache import CACHE_SECONDS
from tests.browser.site import BrowserWorld
from tests.harness import until

SCRIPTED = (
    "<script>alert('prompt')</script> **bold** _slanted_ <img src=x onerror=alert('img')>\n"
    "# not a heading\n`not code` {{ 7*7 }} <b>not bold</b>\n"
)


async def test_a_prompt_with_script_and_markdown_shows_as_typed_and_nothing_runs(world: BrowserWorld) -> None:
    page, stage = world.page, world.stage
    prompt = SCRIPTED + "x" * (PROMPT_MAX - len(SCRIPTED))  # the longest word the page can be given
    await world.add_job(prompt, user_id=stage.alice)
    stage.guild.name = "<script>alert('name')</script> **Team** clips"
    await world.log_in(world.owner)
    await page.goto(world.server)

    cell = page.locator("main .prompt")
    await expect(cell).to_have_count(1)
    assert await cell.inner_text() == prompt
    await expect(page.get_by_role("heading", level=1)).to_have_text(stage.guild.name)
    assert await page.title() == f"{stage.guild.name} · sora-bot dashboard"
    for markup in ("script", "img", "b", "strong", "em", "code"):
        await expect(page.locator(f"main {markup}")).to_have_count(0)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"
    await world.shot("overview-with-markup")
    assert world.script_events == []


async def test_a_budget_set_in_discord_shows_on_the_overview(world: BrowserWorld) -> None:
    """The bot (real, on the fake Discord) and the dashboard share the database: what /sora-admin sets is
    on the page, once the dashboard's read cache of the server's settings (CACHE_SECONDS) has run out."""
    page, stage = world.page, world.stage
    await world.log_in(stage.admin)
    await page.goto(world.server)
    today = page.get_by_role("row", name="Today (UTC)")
    await expect(today).to_contain_text("no daily budget")
    await world.shot("no-budget")

    async with stage.bot():
        await stage.admin_command("budget", "set", dollars_per_day=12.5)

    async def shown() -> bool:
        await page.reload()
        return "of $12.50 a day" in await today.inner_text()

    await until(shown, CACHE_SECONDS + 5, "the budget on the overview", interval=0.5)
    await world.shot("budget-set-in-discord")
