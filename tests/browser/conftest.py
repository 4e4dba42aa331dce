"""Real-browser flows: headless Chromium (Debian's `chromium` package at /usr/bin/chromium, driven by
Playwright with `executable_path`; never `playwright install`) on the dashboard, served by a real uvicorn on a
free port of 127.0.0.1 in the test's event loop (DASHBOARD_URL http://127.0.0.1:PORT, so the session cookie
is not Secure), logging in through the fake Discord's OAuth2 consent, on a real SQLite file.

Without Chromium the tests here skip, saying why; with SORA_REQUIRE_BROWSER=1 (CI: .ci/run installs it) they
fail instead. Every step's screenshot goes to SORA_ARTIFACTS (default tests/browser/artifacts/, ignored by
git) in a folder named after the test: `await world.shot("logged-in")` writes NN-logged-in.png; a failed
test adds one of each open page as it was when the test failed. A dialog or a script error on any page fails
the test (the dashboard's pages have no script at all).

The bot on the same database: `world.stage` is the end-to-end suite's test server (tests/e2e/conftest.py:
alice, bob, mod with Manage Messages, admin with Manage Server, and the owner; a clips, a mod-queue and an
audit channel) on the fake Discord the dashboard logs in with, and its settings name the dashboard's database
file and clip folder. So a flow can press something in the browser and then ask Discord::

    async with world.stage.bot():                               # the real bot (TestBot): gateway and worker
        await world.log_in(world.owner)
        await world.page.goto(f"{world.server}/settings")
        ...                                                     # edit a limit, press Save
        token = await world.stage.command("usage", world.stage.alice)
        assert "..." in world.stage.answer(token)["content"]   # /usage as Discord shows it

or the other way round (`world.stage.admin_command(...)`, `world.stage.video(...)`, then the page). The bot
and the dashboard hold stores of their own, as two processes do, and each caches a server's settings for
CACHE_SECONDS (bot/store/guild_cache.py): a change made through one shows in the other within that time, not
at once (wait for it with `tests.harness.until`). `fake_prodia` answers the bot's jobs; a refusal by the
fake Discord that the test did not declare (`world.fake.expect_refusal`) fails it, as in the end-to-end
suite.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from playwright.async_api import Error as PlaywrightError

from tests.browser.site import CHROMIUM, BrowserWorld, Shots, browser_world, chromium
from tests.e2e.conftest import staged_world
from tests.fakes.prodia import FakeProdia

# Read before any test changes directory (tests run in their tmp_path).
ARTIFACTS = Path(os.environ.get("SORA_ARTIFACTS") or Path(__file__).parent / "artifacts").resolve()
CALL_REPORT = pytest.StashKey[pytest.TestReport]()

expect.set_options(timeout=10_000)  # the machine is shared: give a page more than the default 5 s


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, object, object]:
    """Keep the call's report on the item: the `world` fixture screenshots the pages of a failed test."""
    report = yield
    if isinstance(report, pytest.TestReport) and report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


@pytest.fixture
def chromium_executable() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} for the browser tests (Debian: apt-get install chromium)"
    if os.environ.get("SORA_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
async def browser(chromium_executable: Path) -> AsyncIterator[Browser]:
    async with chromium(chromium_executable) as launched:
        yield launched


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots.fresh(ARTIFACTS, request.node.name)


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, fake_prodia: FakeProdia, browser: Browser, shots: Shots
) -> AsyncIterator[BrowserWorld]:
    stage = staged_world(tmp_path, fake_prodia)
    async with browser_world(stage, browser, shots) as world:
        yield world
        report = request.node.stash.get(CALL_REPORT, None)
        if report is not None and report.failed:
            for context in browser.contexts:
                for page in context.pages:
                    with contextlib.suppress(PlaywrightError):  # the test's own failure says more
                        await shots.take(page, "failed")
    problems = [*world.script_events, stage.take_refusal_report()]
    if any(problems):
        pytest.fail("\n".join(p for p in problems if p), pytrace=False)
