"""`sora-bot` as a real process with broken or empty settings: one line naming the setting, exit code 2."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import SORA_BOT, cli_env, finish, start

PASSWORD = "pg-pass-never-shown"


@pytest.mark.parametrize("command", [["db", "migrate"], ["health"], ["run"]])
@pytest.mark.parametrize("port", ["abc", "99999"])
async def test_a_database_url_with_a_bad_port_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], port: str
) -> None:
    url = f"postgresql://sora:{PASSWORD}@127.0.0.1:{port}/sora"
    result = await finish(start(command, cli_env(tmp_path, DATABASE_URL=url, DISCORD_TOKEN="x")))
    lines = result.stderr.strip().splitlines()
    assert result.code == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sora-bot: configuration error: DATABASE_URL is invalid")
    assert "port" in lines[0]
    assert PASSWORD not in result.stderr + result.stdout


async def test_an_empty_optional_setting_in_dotenv_means_unset(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEV_GUILD_ID=\nSHARD_COUNT=\nWORKER_SLOTS=\nLOG_LEVEL=\n")
    done = await asyncio.to_thread(
        subprocess.run,
        [SORA_BOT, "db", "migrate"],
        env=cli_env(tmp_path),
        cwd=tmp_path,  # where the .env is read from
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "is at the current schema" in done.stdout
