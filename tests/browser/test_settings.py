"""The settings page in a real browser, with the real bot on the same database: an admin sets the server's
jobs per hour, checks the preview ("before -> after"), saves, and a member's /usage in Discord shows the new
limit once the bot's read cache of the server's settings (CACHE_SECONDS) has run out."""

from __future__ import annotations

from playwright.async_api import expect

from bot.store.guild_cache import CACHE_SECONDS
from tests.browser.site import BrowserWorld
from tests.harness import until


async def test_a_limit_saved_on_the_page_is_the_one_usage_shows_in_discord(world: BrowserWorld) -> None:
    page, stage = world.page, world.stage

    async def usage() -> str:
        """Alice's /usage, as Discord shows her its answer."""
        text: str = stage.answer(await stage.command("usage", stage.alice))["content"]
        return text

    async with stage.bot():
        before = await usage()
        assert "Jobs this hour: 0 of 50" in before, before  # the bot's default (the stage's settings)

        await world.log_in(stage.admin)
        await page.goto(f"{world.server}/settings")
        limits = page.get_by_role("table").filter(has_text="The bot's defaults")
        await expect(limits).to_contain_text("jobs per hour 50")
        await world.shot("settings")
        form = page.locator("form", has=page.get_by_role("button", name="Preview the change")).filter(
            has=page.get_by_label("Jobs per hour")
        )
        await form.get_by_label("Jobs per hour").fill("3")
        await world.shot("jobs-per-hour-filled-in")
        await form.get_by_role("button", name="Preview the change").click()

        await expect(page.get_by_role("heading", level=1)).to_have_text("Limits for the whole server")
        change = page.get_by_role("row", name="Jobs per hour")
        await expect(change.get_by_role("cell")).to_have_text(["not set (the bot's default: 50)", "->", "3"])
        await expect(page.get_by_role("row")).to_have_count(2)  # the header and that one field
        await world.shot("preview")
        assert await world.governance.limit_rules(stage.guild_id) == []  # a preview saves nothing

        await page.get_by_role("button", name="Save").click()
        saved = "Saved. Limits for the whole server: Jobs per hour."
        await expect(page.get_by_role("status")).to_have_text(saved)
        await expect(limits.get_by_role("row", name="The whole server")).to_contain_text("jobs per hour 3")
        await world.shot("saved")

        async def changed() -> str | None:
            text = await usage()
            return text if "Jobs this hour: 0 of 3" in text else None

        after = await until(changed, CACHE_SECONDS + 10, "/usage to show the new limit", interval=1.0)
    assert after.replace("0 of 3", "0 of 50") == before  # only the limit changed
