"""The real-browser harness: the dashboard served by a real uvicorn on 127.0.0.1 in the test's event loop,
headless Chromium (Debian's, driven by Playwright) on it, the fake Discord to log in with and for the bot to
run against, on the bot's own database file and clip folder; screenshots of every step.

Plain async context managers, so that tests/browser/conftest.py and tests/browser/readme_screenshot.py build
the same thing."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from playwright.async_api import Browser, Dialog, Page, ViewportSize, async_playwright, expect
from pydantic import SecretStr

from bot.dashboard.app import create_app, rest_client
from bot.dashboard.discord_rest import DiscordRest
from bot.domain.models import Job, JobRequest, Target
from bot.settings import Settings
from bot.storage.open import open_storage
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore, NewJob
from tests.browser.serving import listening_socket, origin, served
from tests.e2e.conftest import World as BotStage
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.running import redirect_discord

CHROMIUM = Path("/usr/bin/chromium")  # Debian's `chromium` package (.ci/run installs it)
SECRET = "browser-test-session-secret-0123456789abcdef"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


@contextlib.asynccontextmanager
async def chromium(executable: Path = CHROMIUM) -> AsyncIterator[Browser]:
    """Headless Chromium from `executable` (never a browser Playwright downloads: no `playwright install`)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "step"


@dataclass
class Shots:
    """Screenshots of a flow's steps in `folder` (the test's own: emptied when it starts), numbered in the
    order taken: 01-home.png, 02-logged-in.png, ..."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    @classmethod
    def fresh(cls, root: Path, name: str) -> Shots:
        folder = root / _file_part(name)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return cls(folder)

    async def take(self, page: Page, step: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{_file_part(step)}.png"
        await page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path


@dataclass(frozen=True, slots=True)
class VideoState:
    ready_state: int
    duration: float
    width: int
    height: int
    played_to: float  # currentTime after playing for a moment


async def assert_video_plays(page: Page, selector: str, *, seconds: float = 0.5) -> VideoState:
    """The <video> at `selector` loads (readyState >= HAVE_CURRENT_DATA, no error, a picture size and a
    duration), then plays (muted, so no user gesture is needed) past `seconds`: the browser decodes it."""
    video = page.locator(selector)
    await expect(video).to_have_count(1)
    handle = await video.element_handle()
    await page.wait_for_function("v => v.readyState >= 2 || v.error !== null", arg=handle, timeout=15_000)
    error = await video.evaluate("v => v.error && `${v.error.code}: ${v.error.message}`")
    assert error is None, f"{selector} did not load: MediaError {error}"
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function(f"v => v.currentTime > {seconds}", arg=handle, timeout=15_000)
    state = cast(
        dict[str, float],
        await video.evaluate(
            "v => ({ready: v.readyState, duration: v.duration, width: v.videoWidth,"
            " height: v.videoHeight, at: v.currentTime})"
        ),
    )
    found = VideoState(
        int(state["ready"]), state["duration"], int(state["width"]), int(state["height"]), state["at"]
    )
    assert found.ready_state >= 2 and found.width > 0 and found.height > 0, found
    assert 0 < found.duration < float("inf"), found
    return found


async def open_page(browser: Browser, script_events: list[str]) -> Page:
    """A page in a new browser context (cookies of its own) that notes every dialog (dismissed) and script
    error in `script_events`."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()

    async def dialog(opened: Dialog) -> None:
        script_events.append(f"{opened.type} dialog: {opened.message}")
        await opened.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda error: script_events.append(f"page error: {error}"))
    return page


@dataclass(kw_only=True)
class BrowserWorld:
    """The dashboard at `url` (real uvicorn), a browser `page` on it, and `stage`: the end-to-end suite's
    test server (alice, bob, mod, admin and the owner; the fake Discord and Prodia) whose `stage.bot()` runs
    the real bot on the dashboard's database file and clip folder."""

    stage: BotStage
    url: str  # DASHBOARD_URL
    settings: Settings
    db: Database
    jobs: JobStore
    governance: Governance
    browser: Browser
    page: Page
    shots: Shots
    # Dialogs and page errors on its pages: the dashboard's pages have no script, so any is a failure.
    script_events: list[str]

    @property
    def fake(self) -> FakeDiscord:
        return self.stage.fake

    @property
    def server(self) -> str:
        """The test server's page."""
        return f"{self.url}/servers/{self.stage.guild_id}"

    @property
    def owner(self) -> int:
        return self.stage.guild.owner_id

    async def new_page(self) -> Page:
        """A page in a browser context of its own (its own cookies: another member's browser)."""
        return await open_page(self.browser, self.script_events)

    async def shot(self, step: str, page: Page | None = None) -> Path:
        return await self.shots.take(page or self.page, step)

    async def log_in(self, user_id: int, page: Page | None = None) -> Page:
        """Log in as `user_id` as a member does: the home page's "Log in with Discord", Discord's consent
        (the fake answers as if `user_id` pressed Authorize), back on the home page, logged in."""
        page = page or self.page
        self.fake.oauth_user_id = user_id
        await page.goto(f"{self.url}/")
        await page.get_by_role("main").get_by_role("link", name="Log in with Discord").click()
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert page.url == f"{self.url}/", page.url
        return page

    async def add_job(self, prompt: str, *, user_id: int, cost: float = 0.4, **target: object) -> Job:
        """A job on the test server as if the bot had accepted it (queued)."""
        return await self.jobs.create(
            NewJob(
                request=JobRequest.parse(prompt=prompt),
                user_id=user_id,
                guild_id=self.stage.guild_id,
                estimated_cost=cost,
                target_kind="discord",
                target=cast(Target, {"kind": "discord", "channel_id": self.stage.channel_id, **target}),
            )
        )


def dashboard_settings(stage: BotStage, url: str) -> Settings:
    """The bot's settings (its database, clip folder and token) and the dashboard's, as one process has."""
    fake = stage.fake
    return stage.settings(
        discord_api_base_url=fake.api_base,
        dashboard_url=url,
        dashboard_secret=SecretStr(SECRET),
        discord_client_id=fake.app_id,
        discord_client_secret=SecretStr(fake.oauth_client_secret),
    )


@contextlib.asynccontextmanager
async def browser_world(stage: BotStage, browser: Browser, shots: Shots) -> AsyncIterator[BrowserWorld]:
    """Start the fake Discord, then the dashboard on the stage's database as `sora-bot dashboard` builds it
    (create_app with a REST-only discord.py client and the storage), served on a free port of 127.0.0.1."""
    async with contextlib.AsyncExitStack() as stack:
        fake = stage.fake
        await fake.start()
        stack.push_async_callback(fake.stop)
        stack.enter_context(redirect_discord(fake))
        sock = listening_socket()
        url = origin(sock)
        fake.oauth_redirect_uris.append(f"{url}/callback")
        settings = dashboard_settings(stage, url)
        db = await Database.open(settings.database_target)
        stack.push_async_callback(db.close)
        discord = DiscordRest(fake.bot_token, base_url=fake.api_base)
        stack.push_async_callback(discord.close)
        bot_client = rest_client()
        await bot_client.login(fake.bot_token)
        stack.push_async_callback(bot_client.close)
        governance, jobs = Governance(db), JobStore(db)
        app = create_app(
            settings,
            db=db,
            governance=governance,
            jobs=jobs,
            discord=discord,
            bot_client=bot_client,
            storage=open_storage(settings, working=False),
        )
        await stack.enter_async_context(served(app, sock))
        stack.push_async_callback(_close_contexts, browser)
        script_events: list[str] = []
        yield BrowserWorld(
            stage=stage,
            url=url,
            settings=settings,
            db=db,
            jobs=jobs,
            governance=governance,
            browser=browser,
            page=await open_page(browser, script_events),
            shots=shots,
            script_events=script_events,
        )


async def _close_contexts(browser: Browser) -> None:
    """Close the pages before the server stops (uvicorn waits for open connections)."""
    for context in browser.contexts:
        await context.close()
