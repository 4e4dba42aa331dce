"""Write the README's screenshot of the dashboard (deploy/dashboard.png): a server's overview as its owner
sees it, in the browser tests' Chromium, on the same harness (fake Discord, real uvicorn, SQLite).

    python -m tests.browser.readme_screenshot [PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bot.domain.models import JobState
from tests.browser.site import BrowserWorld, Shots, bot_stage, browser_world, chromium
from tests.fakes.prodia import FakeProdia

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


async def write(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeProdia(clip_dir=Path(tmp) / "prodia") as prodia, chromium() as browser:
            stage = bot_stage(Path(tmp), prodia, server_name="Team clips")
            async with browser_world(stage, browser, Shots(Path(tmp))) as world:
                await fill(world)
                await world.log_in(world.owner)
                await world.page.set_viewport_size({"width": 1040, "height": 600})
                await world.page.goto(world.server)
                await world.page.screenshot(path=out, full_page=True)
    print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=OUT)
    asyncio.run(write(parser.parse_args().path))


if __name__ == "__main__":
    main()
