"""The approvals page in a real browser, with the real bot on the same database: a member's /video waits in
the moderators' channel with Approve and Reject; a moderator decides on the page instead, and Discord
follows: the moderators' message loses its buttons and names who decided, the requester's status message
says so (with the reason, for a rejection), and an approved job is made and posted by the bot's worker."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from playwright.async_api import expect

from bot.domain.models import JobState
from tests.browser.site import BrowserWorld
from tests.e2e.conftest import finished, until
from tests.e2e.test_governance import approval_messages


def picture() -> dict[str, tuple[str, bytes, str]]:
    """A /video attachment option's upload: a small PNG, which the bot keeps as its JPEG input image."""
    data = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 40)).save(data, format="PNG")
    return {"pic": ("pic.png", data.getvalue(), "image/png")}


def buttons(message: dict[str, Any]) -> list[str]:
    return [button["custom_id"] for row in message["components"] for button in row["components"]]


def request_about(world: BrowserWorld, prompt: str) -> dict[str, Any]:
    """The moderators' message about the request with `prompt`, as the fake Discord has it now."""
    [message] = [m for m in approval_messages(world.stage) if prompt in m["embeds"][0]["description"]]
    return message


async def test_a_moderator_approves_and_rejects_on_the_page_and_discord_follows(world: BrowserWorld) -> None:
    page, stage = world.page, world.stage
    async with stage.bot() as bot:
        await stage.admin_command("approvals", "on", channel=stage.mods_channel_id)
        kite = await stage.video_answer(
            prompt="an orange kite over the dunes", image="pic", attachments=picture()
        )
        assert kite["embeds"][0]["title"] == "Waiting for a moderator's approval"
        spoons_token = await stage.video(stage.bob, prompt="a tower of spoons")
        await until(lambda: len(approval_messages(stage)) == 2, what="both requests for the moderators")
        assert buttons(request_about(world, "orange kite")) == ["sora:approve:1", "sora:reject:1"]
        assert buttons(request_about(world, "tower of spoons")) == ["sora:approve:2", "sora:reject:2"]
        assert stage.prodia.requests == []  # nothing is made before a moderator says so

        await world.log_in(stage.mod)
        await page.goto(f"{world.server}/approvals")
        first = page.get_by_role("region", name="Job 1")
        second = page.get_by_role("region", name="Job 2")
        await expect(first.locator(".prompt")).to_have_text("an orange kite over the dunes")
        await expect(first).to_contain_text(f"member {stage.alice}")
        await expect(second.locator(".prompt")).to_have_text("a tower of spoons")
        await expect(second).to_contain_text(f"member {stage.bob}")
        thumbnail = first.get_by_role("img", name="The input image of job 1")
        await expect(thumbnail).to_have_js_property("complete", True)
        width, height = await thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert width > 0 and height > 0  # decoded: the bot's JPEG, not a broken image
        await world.shot("two-requests-waiting")

        await first.get_by_role("button", name="Approve job 1").click()
        await expect(page.get_by_role("status")).to_have_text("Job 1 approved.")
        await expect(page.get_by_role("region", name="Job 1")).to_have_count(0)
        await world.shot("job-1-approved")
        approved = request_about(world, "orange kite")  # edited before the page answered
        assert approved["components"] == [] and approved["embeds"][0]["title"] == "Approved by mod"

        await second.get_by_role("textbox", name="Reason (the requester sees it)").fill("off-topic spoons")
        await world.shot("reason-for-job-2")
        await second.get_by_role("button", name="Reject job 2").click()
        await expect(page.get_by_role("status")).to_have_text("Job 2 rejected.")
        await expect(page.get_by_role("main")).to_contain_text("No requests are waiting for approval.")
        await world.shot("job-2-rejected-none-waiting")
        rejected = request_about(world, "tower of spoons")
        assert rejected["components"] == [] and rejected["embeds"][0]["title"] == "Rejected by mod"
        status = stage.answer(spoons_token)["embeds"][0]
        assert status["title"] == "Rejected"
        assert "A moderator rejected this request: off-topic spoons" in str(status["fields"])

        job = await finished(bot, 1)  # the worker finds the approved job by itself
        assert job.state is JobState.DELIVERED and job.approved_by == stage.mod
        [clip] = await until(stage.clips, what="job 1's clip in the channel")
        assert clip["attachments"][0]["filename"].endswith(".mp4")
        assert (await bot.pipeline.store.get(2)).state is JobState.REJECTED  # type: ignore[union-attr]
        assert len(stage.prodia.requests_for("POST /job/async")) == 1
