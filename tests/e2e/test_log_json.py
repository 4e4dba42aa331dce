"""LOG_FORMAT=json under the real bot: every line a JSON object, job transitions with their fields, secrets
masked (interaction tokens included, at DEBUG)."""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import MASK, setup_logging
from tests.conftest import PRODIA_TOKEN
from tests.e2e.conftest import World, finished
from tests.e2e.test_cli import cli_env, generate
from tests.harness import logging_restored


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the handler from `setup_logging(..., "json")` writes; the root logger is restored afterwards."""
    with logging_restored():
        yield io.StringIO()


async def test_a_real_run_writes_json_lines_with_job_fields(world: World, json_log: io.StringIO) -> None:
    settings = world.settings(log_level="DEBUG", log_format="json")
    assert settings.log_format == "json"
    setup_logging(settings.log_level, settings.secrets(), settings.log_format)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(json_log)
    async with world.bot(log_level="DEBUG", log_format="json") as bot:
        token = await world.video(prompt="a kite over the dunes")
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error
    text = json_log.getvalue()
    records: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    assert len(records) > 10 and all({"timestamp", "level", "logger", "message"} <= set(r) for r in records)
    transitions = [r for r in records if r["logger"] == "bot.jobs" and "previous" in r]
    # One line per transition, each naming the state it left; the last one is the delivery.
    assert len(transitions) >= 2
    for before, after in itertools.pairwise(transitions):
        assert after["previous"] == before["state"]
    delivered = transitions[-1]
    assert delivered["state"] == "delivered"
    assert delivered["job_id"] == 1 and delivered["guild_id"] == job.guild_id
    assert isinstance(delivered["seconds_in_previous"], float) and delivered["seconds_in_previous"] >= 0
    assert delivered["message"].startswith(f"job 1 {delivered['previous']} -> delivered")
    # Secrets stay masked in JSON too: the bot and Prodia tokens, and the interaction token at DEBUG.
    assert MASK in text
    assert token not in text and world.fake.bot_token not in text and PRODIA_TOKEN not in text


async def test_the_cli_honours_log_format_json(tmp_path: Path) -> None:
    """`LOG_FORMAT=json` reaches `setup_logging` from the command line (the progress lines `generate
    --verbose` prints for a person stay text)."""
    env = cli_env(tmp_path, LOG_FORMAT="json")
    result = await generate(
        tmp_path, "A cyclist", "--backend", "local", "--out", str(tmp_path / "c.mp4"), "--verbose", env=env
    )
    assert result.code == 0, result.stderr
    logged = [json.loads(line) for line in result.stderr.splitlines() if not line.startswith("job 1: ")]
    transitions = [r for r in logged if r.get("job_id") == 1 and "previous" in r]
    assert [r["state"] for r in transitions][-1] == "delivered"
    assert all(r["logger"] == "bot.jobs" and r["seconds_since_created"] >= 0 for r in transitions)
