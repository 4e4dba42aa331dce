"""docker-compose.yml can't be started here (no Docker engine), so check what it asks of sora-bot: every
command is one the CLI accepts, every variable is a real setting, the health checks are probes of /readyz
(the dashboard's: of its home page) that work against the real endpoint, and the layout is PostgreSQL, MinIO,
one gateway, two workers and the dashboard sharing one database and one bucket, and no volume."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import SecretStr

from bot.cli import _parser
from bot.dashboard.app import create_app
from bot.dashboard.discord_rest import DiscordRest
from bot.services.metrics import Metrics
from bot.services.ops_http import OpsServer
from bot.settings import Settings
from bot.store.db.base import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from tests.browser.serving import listening_socket, origin, served

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"
BUCKET = "sora-clips"
# Read by the S3 client itself (the AWS SDKs' standard credential names), whether or not Settings has them.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def bots() -> dict[str, Any]:
    """The services that run sora-bot (built from this repository's image)."""
    return {name: s for name, s in services().items() if s.get("image") == "sora-bot"}


def test_postgresql_minio_one_gateway_and_two_workers() -> None:
    found = services()
    assert found["postgres"]["image"].startswith("postgres:")
    assert found["minio"]["image"].startswith("minio/minio")
    assert found["minio-bucket"]["image"].startswith("minio/mc")
    assert set(bots()) == {"migrate", "gateway", "worker", "dashboard"}
    assert found["gateway"]["command"] == ["sora-bot", "gateway"]
    assert found["dashboard"]["command"] == ["sora-bot", "dashboard"]
    assert found["worker"]["command"] == ["sora-bot", "worker"]
    assert found["worker"]["deploy"]["replicas"] == 2
    assert "replicas" not in found["gateway"].get("deploy", {})


def test_every_bot_process_shares_the_database_and_the_bucket_and_no_volume() -> None:
    found = services()
    urls = {s["environment"]["DATABASE_URL"] for s in bots().values()}
    assert len(urls) == 1 and urls.pop().startswith("postgresql://")
    minio = found["minio"]["environment"]
    for name, service in bots().items():
        env = service["environment"]
        assert not service.get("volumes"), name  # each keeps only a scratch folder of its own
        assert env["STORAGE_URL"] == f"s3://{BUCKET}/clips"
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["S3_REGION"] == "us-east-1"
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"] == "${MINIO_ROOT_USER:-sora}"
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
        assert minio["MINIO_ROOT_PASSWORD"].startswith("${MINIO_ROOT_PASSWORD:?")  # no default password
        assert (env["METRICS_PORT"], env["METRICS_HOST"]) == (9100, "0.0.0.0")
    assert "clips" not in yaml.safe_load(COMPOSE.read_text())["volumes"]


def test_the_bucket_is_made_before_any_bot_process_starts() -> None:
    found = services()
    assert found["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert found["minio"]["healthcheck"]["test"]
    assert f"mc mb --ignore-existing minio/{BUCKET}" in " ".join(found["minio-bucket"]["command"])
    for name, service in bots().items():
        assert service["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully", name


def test_commands_are_ones_the_cli_accepts() -> None:
    parser = _parser()
    for service in bots().values():
        argv = service["command"]
        assert argv[0] == "sora-bot"
        parser.parse_args(argv[1:])  # exits (fails the test) on an unknown command or option


def test_every_variable_is_a_setting() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    for name, service in bots().items():
        assert set(service["environment"]) <= settings | S3_CREDENTIALS, name


def test_the_dashboard_needs_its_settings_and_is_published_for_a_proxy_on_this_host() -> None:
    dashboard = services()["dashboard"]
    env = dashboard["environment"]
    for name in ("DASHBOARD_URL", "DASHBOARD_SECRET", "DISCORD_CLIENT_ID", "DISCORD_CLIENT_SECRET"):
        assert env[name] == f"${{{name}:?set {name}}}", name  # no default: compose refuses to start without
    assert env["DISCORD_TOKEN"].startswith("${DISCORD_TOKEN:?")
    assert (env["DASHBOARD_HOST"], env["DASHBOARD_PORT"]) == ("0.0.0.0", 8080)
    assert Settings.model_fields["dashboard_port"].default == 8080
    assert dashboard["ports"] == ["127.0.0.1:${DASHBOARD_PORT:-8080}:8080"]
    assert dashboard["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


async def probe(argv: list[str], port: int, inside: int = 9100) -> int:
    """The health check's exit status when what it probes listens on `port` (in place of `inside`)."""
    assert argv[:2] == ["CMD", "python"]
    command = [sys.executable, *(arg.replace(f":{inside}/", f":{port}/") for arg in argv[2:])]
    process = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.DEVNULL)
    return await process.wait()


async def test_the_health_checks_probe_readyz_and_fail_when_not_ready() -> None:
    reason: list[str | None] = [None]

    async def check() -> str | None:
        return reason[0]

    # Only /readyz is asked for: the database is never used.
    server = OpsServer(Metrics(), cast(Database, None), [check], host="127.0.0.1", port=0)
    await server.start()
    try:
        for name in ("gateway", "worker"):
            argv = services()[name]["healthcheck"]["test"]
            assert "http://127.0.0.1:9100/readyz" in " ".join(argv), name
            reason[0] = None
            assert await probe(argv, server.port) == 0, name
            reason[0] = "the scheduler is not running"
            assert await probe(argv, server.port) != 0, name
    finally:
        await server.stop()
    assert await probe(argv, server.port) != 0  # nothing listening


async def test_the_dashboards_health_check_gets_its_home_page(tmp_path: Path) -> None:
    """Against the real dashboard app (its home page asks nothing of Discord), served by uvicorn."""
    sock = listening_socket()
    settings = Settings(
        database_url=SecretStr(f"sqlite:///{tmp_path}/bot.db"),
        dashboard_url=origin(sock),
        dashboard_secret=SecretStr("d" * 40),
        discord_client_id=1,
        discord_client_secret=SecretStr("client-secret"),
    )
    db = await Database.open(settings.database_target)
    discord = DiscordRest("bot-token", base_url="http://127.0.0.1:9/api/v10")  # never asked
    argv = services()["dashboard"]["healthcheck"]["test"]
    port = sock.getsockname()[1]
    try:
        app = create_app(settings, db=db, governance=Governance(db), jobs=JobStore(db), discord=discord)
        async with served(app, sock):
            assert await probe(argv, port, inside=8080) == 0
    finally:
        await discord.close()
        await db.close()
    assert await probe(argv, port, inside=8080) != 0  # nothing listening
