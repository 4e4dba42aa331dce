"""docker-compose.yml can't be started here (no Docker engine), so check what it asks of sora-bot: every
command and health check is one the CLI accepts, every variable is a real setting, and the layout is
PostgreSQL, one gateway and two workers sharing one database and one clips volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.cli import _parser
from bot.settings import Settings

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_postgresql_one_gateway_and_two_workers() -> None:
    found = services()
    assert found["postgres"]["image"].startswith("postgres:")
    assert found["gateway"]["command"] == ["sora-bot", "gateway"]
    assert found["worker"]["command"] == ["sora-bot", "worker"]
    assert found["worker"]["deploy"]["replicas"] == 2
    assert "replicas" not in found["gateway"].get("deploy", {})


def test_every_bot_process_shares_the_database_and_the_clips() -> None:
    bots = {name: s for name, s in services().items() if name != "postgres"}
    urls = {s["environment"]["DATABASE_URL"] for s in bots.values()}
    assert len(urls) == 1 and urls.pop().startswith("postgresql://")
    for service in bots.values():
        assert "clips:/data/clips" in service["volumes"]
        assert service["environment"]["OUTPUT_DIR"] == "/data/clips"


def test_commands_and_health_checks_are_ones_the_cli_accepts() -> None:
    parser = _parser()
    for name, service in services().items():
        if name == "postgres":
            continue
        argv = service["command"]
        assert argv[0] == "sora-bot"
        parser.parse_args(argv[1:])  # exits (fails the test) on an unknown command or option
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[:3] == ["CMD", "sora-bot", "health"]
            parser.parse_args(test[2:])


def test_every_variable_is_a_setting() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    for name, service in services().items():
        if name != "postgres":
            assert set(service["environment"]) <= settings, name
