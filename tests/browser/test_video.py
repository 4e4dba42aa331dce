"""Debian's Chromium plays the clips the bot posts: H.264 video with AAC audio in MP4 (what Sora returns and
the local renderer writes), served under the dashboard's own security headers (media-src 'self')."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from bot.dashboard.app import SecurityHeaders
from bot.media.render import render_clip
from tests.browser.serving import listening_socket, origin, served
from tests.browser.site import Shots, assert_video_plays


def clip_site(clip: Path) -> SecurityHeaders:
    """A page with the clip in a <video>, and the clip (range requests answered, as browsers ask)."""

    async def page(request: Request) -> Response:
        video = '<video id="clip" src="/clip.mp4" controls preload="auto"></video>'
        return HTMLResponse(f"<!doctype html><title>clip</title>{video}")

    async def mp4(request: Request) -> Response:
        return FileResponse(clip, media_type="video/mp4")

    app = Starlette(routes=[Route("/", page), Route("/clip.mp4", mp4)])
    return SecurityHeaders(app, https=False)


async def test_chromium_plays_an_h264_aac_mp4(browser: Browser, shots: Shots, tmp_path: Path) -> None:
    clip = tmp_path / "1.mp4"
    await asyncio.to_thread(
        render_clip, clip, prompt="a paper boat", width=640, height=360, duration=2, audio=True, seed=1
    )
    sock = listening_socket()
    url = origin(sock)
    async with served(clip_site(clip), sock):
        page = await browser.new_page()
        await page.goto(f"{url}/")
        state = await assert_video_plays(page, "#clip")
        await shots.take(page, "playing")
    assert (state.width, state.height) == (640, 360)
    assert abs(state.duration - 2) < 0.1, state
