"""The jobs page in a real browser, on clips the real bot made (fake Prodia's MP4s, in the bot's clip folder
the dashboard reads): a moderator finds a member's job by the filters and plays its clip through the link
the job's page signs for them. Another member's private job is not there for the moderator: not listed, no
page, and its clip plays for no link but one signed for its owner."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Page, expect

from bot.dashboard.media_links import MediaLinks
from bot.domain.models import JobState
from tests.browser.site import SECRET, BrowserWorld, assert_video_plays
from tests.e2e.conftest import finished


async def search(page: Page, member: int) -> None:
    """The list's filter form, as a member fills it in: only `member`'s jobs."""
    await page.get_by_role("textbox", name="Member id").fill(str(member))
    await page.get_by_role("button", name="Search").click()
    await expect(page).to_have_url(re.compile(rf"/jobs\?member={member}&"))


async def clip_link(page: Page) -> str:
    """The job page's `<video>` source: the clip link signed for whoever is logged in on `page`."""
    src = await page.locator("video").get_attribute("src")
    assert src is not None and src.startswith(urlsplit(page.url).path + "/clip?"), src
    return src


async def status_of(page: Page, url: str) -> int:
    answer = await page.goto(url)
    assert answer is not None
    return answer.status


async def test_a_moderator_finds_and_plays_a_members_clip_but_not_a_private_one(world: BrowserWorld) -> None:
    page, stage = world.page, world.stage
    async with stage.bot() as bot:
        await stage.video(stage.alice, prompt="a paper boat on a pond")
        await stage.video(stage.bob, prompt="bob's own clip, for everyone")
        await stage.video(world.owner, prompt="the owner's secret clip", private=True)
        for job_id in (1, 2, 3):
            assert (await finished(bot, job_id)).state is JobState.DELIVERED
    private_job = 3

    await world.log_in(stage.mod)
    await page.goto(f"{world.server}/jobs")
    rows = page.get_by_role("row").filter(has=page.get_by_role("link"))
    await expect(rows).to_have_count(2)  # alice's and bob's: the owner's private job is not listed
    await expect(page.get_by_role("main")).not_to_contain_text("secret")
    await world.shot("jobs-as-the-moderator")

    await search(page, stage.alice)
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("a paper boat on a pond")
    await world.shot("alices-jobs")
    await rows.get_by_role("link", name="1", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Job 1")
    played = await assert_video_plays(page, "video")
    assert played.width > 0 and played.duration > 0
    await world.shot("job-1-playing")
    mods_link = await clip_link(page)

    await page.goto(f"{world.server}/jobs")
    await search(page, world.owner)
    await expect(page.get_by_role("cell", name="No jobs match.")).to_be_visible()
    await world.shot("the-owners-jobs-as-the-moderator")
    assert await status_of(page, f"{world.server}/jobs/{private_job}") == 404

    # The owner sees and plays their private clip, through a link signed for them.
    owners_page = await world.log_in(world.owner, await world.new_page())
    await owners_page.goto(f"{world.server}/jobs")
    await search(owners_page, world.owner)
    mine = owners_page.get_by_role("row", name="(private, yours) the owner's secret clip")
    await expect(mine).to_have_count(1)
    await owners_page.get_by_role("link", name=str(private_job), exact=True).click()
    await assert_video_plays(owners_page, "video")
    await world.shot("the-owners-private-clip-playing", owners_page)
    owners_link = await clip_link(owners_page)

    # In the moderator's browser: the owner's link is not theirs (403), nor is theirs the owner's; and even a
    # link rightly signed for the moderator does not play a job they may not see (404).
    assert await status_of(page, world.url + owners_link) == 403
    await world.shot("the-owners-link-in-the-moderators-browser")
    assert await status_of(owners_page, world.url + mods_link) == 403
    expires = owners_link.split("expires=")[1].split("&")[0]
    signed = MediaLinks(SECRET).query(
        "clip", user_id=stage.mod, guild_id=stage.guild_id, job_id=private_job, expires=int(expires)
    )
    assert await status_of(page, f"{world.server}/jobs/{private_job}/clip?{signed}") == 404
    assert await status_of(page, world.url + mods_link) == 200  # the moderator's own link still plays
