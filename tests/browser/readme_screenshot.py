"""Write the README's screenshot of the dashboard (deploy/dashboard.png): a server's overview as its owner
sees it, in the browser tests' Chromium, on the same harness (fake Discord, real uvicorn, SQLite).

    python -m tests.browser.readme_screenshot [PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import expect

from bot.domain.models import JobState
from tests.browser.site import BrowserWorld, Shots, browser_world, chromium
from tests.e2e.conftest import staged_world
from tests.fakes.prodia import FakeProdia

NAME = "Team clips"
OUT = Path(__file__).parents[2] / "deploy" / "dashboard.png"
RUNNING = (JobState.SUBMITTING, JobState.RUNNING)
DELIVERED = (*RUNNING, JobState.DELIVERING, JobState.DELIVERED)
# (prompt, who, the states it went through, its price)
JOBS = [
    ("A paper boat drifts down a rain-soaked street at dusk, neon reflections", "alice", DELIVERED, 0.4),
    ("Timelapse of a sourdough loaf rising, warm kitchen light", "bob", DELIVERED, 0.8),
    ("A lighthouse in a storm, waves breaking over the rocks", "alice", (JobState.FAILED,), 0.4),
    ("Close-up of a hummingbird hovering at a red flower, slow motion", "mod", DELIVERED, 1.2),
    ("A cyclist sprints up a steep hill, handheld camera", "bob", RUNNING, 0.4),
    ("A barista pulls an espresso shot, steam rising", "alice", (), 0.4),
]


async def fill(world: BrowserWorld) -> None:
    """A daily budget and the jobs above, as the bot would have stored them."""
    stage = world.stage
    await world.governance.update_settings(stage.guild_id, budget_dollars_per_day=25.0)
    for prompt, who, states, cost in JOBS:
        job = await world.add_job(prompt, user_id=getattr(stage, who), cost=cost)
        for state in states:
            if state is JobState.DELIVERED:
                await world.jobs.transition(job.id, state, actual_cost=cost)
            else:
                await world.jobs.transition(job.id, state)


async def shoot(world: BrowserWorld, out: Path) -> None:
    """The overview as the owner sees it, checked to be the overview, at the README's width."""
    page = world.page
    await world.log_in(world.owner)
    await page.set_viewport_size({"width": 1040, "height": 600})
    await page.goto(world.server)
    await expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    await expect(page.get_by_role("row", name="Today (UTC)")).to_contain_text("$25.00 a day")
    await page.screenshot(path=out, full_page=True)


async def write(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeProdia(clip_dir=Path(tmp) / "prodia") as prodia, chromium() as browser:
            stage = staged_world(Path(tmp), prodia, name=NAME)
            async with browser_world(stage, browser, Shots(Path(tmp))) as world:
                await fill(world)
                await shoot(world, out)
    print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=OUT)
    asyncio.run(write(parser.parse_args().path))


if __name__ == "__main__":
    main()
