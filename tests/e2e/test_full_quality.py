"""A clip re-encoded to fit Discord's upload limit carries a "Full quality" link button to the original: a
presigned URL from the bucket, the bot's own signed link to its clip server (file:// with HTTP_PORT), or
PUBLIC_CLIP_BASE_URL/name. Private clips never get one, and a link the bot did not sign is refused."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bot.client import SoraBot
from bot.domain.models import JobState
from bot.files import clip_name
from tests.e2e.conftest import BOTH_STORAGES, World, finished, until
from tests.e2e.test_delivery import video_with_limit
from tests.fakes.discord import EPHEMERAL, MIB

OVER_THE_LIMIT = 11 * MIB  # an unboosted server takes 10 MiB a file from the bot: the clip is re-encoded


def link_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The link buttons on a message (legacy action rows)."""
    return [
        button
        for row in message.get("components") or []
        for button in row.get("components") or []
        if button.get("type") == 2 and button.get("style") == 5
    ]


def every_link_button(world: World) -> list[dict[str, Any]]:
    return [button for message in world.fake.messages.values() for button in link_buttons(message)]


async def stored_clip(bot: SoraBot, job_id: int) -> bytes:
    """The original clip as the bot keeps it (in the output folder or the bucket)."""
    async with bot.pipeline.storage.local(clip_name(job_id)) as path:
        assert path is not None
        return path.read_bytes()


async def reencoded_post(world: World, bot: SoraBot) -> dict[str, Any]:
    """Ask for a clip over the server's limit; the public message that carries its re-encode."""
    world.prodia.clip_bytes_extra = OVER_THE_LIMIT
    await world.video(prompt="a long pan across a valley")
    job = await finished(bot, 1)
    assert job.state is JobState.DELIVERED, job.error
    [posted] = world.clips()
    assert "Re-encoded" in str(posted["embeds"][0]["fields"])
    assert posted["attachments"][0]["size"] <= 10 * MIB
    return posted


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
async def test_a_reencoded_clip_links_to_the_original_which_downloads_byte_for_byte(world: World) -> None:
    async with world.bot(http_port=0) as bot:  # file://: the bot serves its clips (port 0: any free one)
        posted = await reencoded_post(world, bot)
        [button] = link_buttons(posted)
        assert button["label"] == "Full quality" and "custom_id" not in button
        url = button["url"]
        assert len(url) <= 512 and urlsplit(url).hostname == "127.0.0.1"
        original = await stored_clip(bot, 1)
        assert len(original) > OVER_THE_LIMIT  # the attachment could not have been the original
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.get(url)
        assert answer.status_code == 200
        assert answer.content == original
        assert world.fake.bot_token not in url
        # The clip's own buttons are still there beside the link.
        custom_ids = [b.get("custom_id") for row in posted["components"] for b in row["components"]]
        assert "sora:reroll:1" in custom_ids and "sora:delete:1" in custom_ids


@pytest.mark.parametrize("storage", ["file"], indirect=True)
async def test_a_signed_link_that_expired_or_was_tampered_with_is_refused(world: World) -> None:
    async with world.bot(http_port=0) as bot:
        [button] = link_buttons(await reencoded_post(world, bot))
        url = button["url"]
        path, query = url.split("?")
        params = dict(part.split("=") for part in query.split("&"))
        signer = bot.links.signer
        assert signer is not None
        past = int(time.time()) - 60
        refused = {
            "expired (signed by the bot itself)": f"{path}?{signer.query(clip_name(1), past)}",
            "expiry pushed later": f"{path}?expires={int(params['expires']) + 3600}"
            f"&signature={params['signature']}",
            "another clip's name": url.replace("/clips/1.mp4", "/clips/2.mp4"),
            "signature changed": f"{path}?expires={params['expires']}&signature={'0' * 64}",
            "no signature": path,
        }
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(url)).status_code == 200
            for what, bad in refused.items():
                assert (await http.get(bad)).status_code == 403, what


@pytest.mark.parametrize("storage", ["file"], indirect=True)
async def test_without_http_port_the_output_folder_gives_no_link_button(world: World) -> None:
    async with world.bot() as bot:
        posted = await reencoded_post(world, bot)
        assert link_buttons(posted) == []
        assert posted["components"]  # the clip's own buttons are there


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
async def test_a_private_clip_never_gets_a_link(world: World) -> None:
    overrides: dict[str, Any] = {"http_port": 0}
    async with world.bot(**overrides) as bot:
        token = await video_with_limit(world, 100_000, private=True)  # re-encoded for the interaction
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = [m for m in world.fake.followups(token) if m.get("attachments")]
        assert posted["flags"] & EPHEMERAL
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])
        assert every_link_button(world) == []


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
async def test_a_clip_that_fits_whole_gets_no_link(world: World) -> None:
    async with world.bot(http_port=0) as bot:
        await world.video(prompt="a short clip")
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = world.clips()
        assert "Re-encoded" not in str(posted["embeds"][0]["fields"])
        assert link_buttons(posted) == []


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
async def test_a_public_clip_base_url_gives_base_slash_name(world: World) -> None:
    if world.storage:
        # A bucket anyone may read: the S3 server's own address of the store's prefix.
        base = f"{world.storage['s3_endpoint_url']}/{world.storage['storage_url'].removeprefix('s3://')}"
    else:
        base = "https://cdn.example.com/sora-clips"  # a CDN in front of the output folder (not fetched)
    async with world.bot(public_clip_base_url=base + "/") as bot:
        [button] = link_buttons(await reencoded_post(world, bot))
        assert button["url"] == f"{base}/1.mp4"
        if world.storage:
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.get(button["url"])
            assert answer.status_code == 200 and answer.content == await stored_clip(bot, 1)


async def test_a_private_clip_its_owner_posts_or_shows_publicly_gets_no_link(world: World) -> None:
    async with world.bot(http_port=0) as bot:
        world.prodia.clip_bytes_extra = OVER_THE_LIMIT
        token = await world.video(prompt="a private valley", private=True)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [ephemeral] = [m for m in world.fake.followups(token) if m.get("attachments")]
        post = await world.fake.click("sora:post:1", message_id=int(ephemeral["id"]), user_id=world.alice)
        [posted] = await until(world.clips, what="the clip posted to the channel")
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])  # over the channel's limit too
        assert link_buttons(posted) == []
        await until(lambda: world.fake.followups(post.token), what="the post's answer")
        await world.command("show", world.alice, job_id=1)
        shown = await until(lambda: world.clips()[1:], what="the clip shown again")
        assert link_buttons(shown[0]) == []
        assert every_link_button(world) == []


@pytest.mark.parametrize("storage", ["file"], indirect=True)
async def test_a_deleted_clips_link_stops_working(world: World) -> None:
    async with world.bot(http_port=0) as bot:
        posted = await reencoded_post(world, bot)
        [button] = link_buttons(posted)
        delete = await world.fake.click("sora:delete:1", message_id=int(posted["id"]), user_id=world.mod)
        await until(lambda: world.fake.followups(delete.token) or world.fake.original(delete.token))
        assert await bot.pipeline.store.clip_removed_by(1) == world.mod  # a moderator took it down
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(button["url"])).status_code == 410
