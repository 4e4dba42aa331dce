"""Settings: defaults, one-line errors naming the setting, and tokens that never show."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.logs import MASK, RedactSecrets
from bot.settings import Settings, load_settings

TOKEN = "prodia-secret-token-123"


def test_defaults_match_the_product_page() -> None:
    settings = load_settings()
    assert settings.database_url.get_secret_value() == "sqlite:///data/sora-bot.db"
    assert settings.database_path == Path("data/sora-bot.db")
    assert settings.prodia_base_url == "https://inference.prodia.com/v2"
    assert settings.prodia_backend == "prodia"


def test_database_url_three_slashes_is_relative_four_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////var/lib/sora/bot.db")
    assert load_settings().database_path == Path("/var/lib/sora/bot.db")


def test_settings_come_from_the_environment_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"PRODIA_TOKEN={TOKEN}\nMAX_CONCURRENT_JOBS=7\n")
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "9")
    settings = load_settings()
    assert settings.prodia_token is not None and settings.prodia_token.get_secret_value() == TOKEN
    assert settings.max_concurrent_jobs == 9  # the environment wins over .env


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_CONCURRENT_JOBS", "lots"),
        ("MAX_CONCURRENT_JOBS", "0"),
        ("PRODIA_BASE_URL", "inference.prodia.com"),
        ("DATABASE_URL", "mysql://x"),
        ("PRODIA_BACKEND", "cloud"),
        ("DEV_GUILD_ID", "guild"),
        ("LOG_FORMAT", "yaml"),
    ],
)
def test_a_malformed_setting_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.detail
    assert message.startswith(f"{name} is invalid")
    assert "\n" not in message


def test_a_missing_token_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        load_settings().require("discord_token")
    monkeypatch.setenv("DISCORD_TOKEN", "   ")
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        load_settings().require("discord_token")


def test_tokens_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODIA_TOKEN", TOKEN)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN + "-discord")
    settings = load_settings()
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", TOKEN)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert TOKEN not in str(caught.value)


def test_a_database_password_is_a_secret_and_never_in_the_label() -> None:
    settings = Settings(database_url=SecretStr("postgresql://sora:p%40ss-w0rd@db.internal:5433/sora"))
    assert "p@ss-w0rd" in settings.secrets()
    assert settings.database_label == "postgresql://db.internal:5433/sora"
    assert Settings(database_url=SecretStr("postgresql://sora@db/sora")).secrets() == []


def test_log_filter_masks_secrets_in_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactSecrets([TOKEN]))
    try:
        with caplog.at_level(logging.INFO, logger="test.redact"):
            logger.info("auth header Bearer %s", TOKEN)
            try:
                raise RuntimeError(f"boom {TOKEN}")
            except RuntimeError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert TOKEN not in text
    assert MASK in text


@pytest.mark.parametrize(
    ("ids", "expected"), [("0,1", [0, 1]), (" 1 , 0 ", [1, 0]), ("[0,1]", [0, 1]), ("1", [1])]
)
def test_shard_ids_are_read_comma_separated_or_as_json(
    monkeypatch: pytest.MonkeyPatch, ids: str, expected: list[int]
) -> None:
    monkeypatch.setenv("SHARD_COUNT", "2")
    monkeypatch.setenv("SHARD_IDS", ids)
    settings = load_settings()
    assert (settings.shard_count, settings.shard_ids) == (2, expected)


def test_unset_shards_leave_the_count_to_discord(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (load_settings().shard_count, load_settings().shard_ids) == (None, None)
    monkeypatch.setenv("SHARD_COUNT", "3")
    assert (load_settings().shard_count, load_settings().shard_ids) == (3, None)  # this process runs all 3


@pytest.mark.parametrize(
    ("count", "ids", "complaint"),
    [
        ("2", "0,2", "shard 2 does not exist"),
        ("2", "-1", "shard -1 does not exist"),
        (None, "0", "needs SHARD_COUNT"),
        ("4", "1,3,1", "names shard 1 more than once"),
        ("2", "0;1", "separated by commas"),
        ("2", "[]", "at least one shard"),
    ],
)
def test_bad_shard_ids_are_one_line_naming_shard_ids(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str, complaint: str
) -> None:
    if count is not None:
        monkeypatch.setenv("SHARD_COUNT", count)
    monkeypatch.setenv("SHARD_IDS", ids)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.detail
    assert message.startswith("SHARD_IDS is invalid") and complaint in message
    assert "\n" not in message


def test_a_shard_count_out_of_range_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_COUNT", "0")
    monkeypatch.setenv("SHARD_IDS", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.detail.startswith("SHARD_COUNT is invalid")  # not a second complaint about the ids


PG_PASSWORD = "s3cr3t-pg-pass"
PG_URL = f"postgresql://sora:{PG_PASSWORD}@db.internal:5433/sora"


def test_the_database_password_is_never_in_repr_str_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert PG_PASSWORD not in text
    # What the database layer is given still carries it: the password is hidden, not lost.
    assert settings.database_target == PG_URL
    assert settings.database_label == "postgresql://db.internal:5433/sora"


@pytest.mark.parametrize(
    "url", [f"postgresql://u:{PG_PASSWORD}@host:abc/db", f"postgresql://u:{PG_PASSWORD}@host:99999/db"]
)
def test_a_database_url_with_a_bad_port_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.detail
    assert message.startswith("DATABASE_URL is invalid") and "port" in message
    assert "\n" not in message and PG_PASSWORD not in message


OPTIONAL_EMPTY = [
    "DEV_GUILD_ID",
    "SHARD_COUNT",
    "SHARD_IDS",
    "WORKER_SLOTS",
    "DISCORD_API_BASE_URL",
    "LOG_LEVEL",
    "LOG_FORMAT",
]


def test_empty_values_in_dotenv_mean_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lines = [f"{name}=" for name in OPTIONAL_EMPTY] + [
        "MAX_CONCURRENT_JOBS=",
        "DATABASE_URL=",
        "PRODIA_TOKEN=",
    ]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    settings = load_settings()
    assert (settings.dev_guild_id, settings.shard_count, settings.shard_ids, settings.worker_slots) == (
        None,
        None,
        None,
        None,
    )
    assert settings.discord_api_base_url is None and settings.prodia_token is None
    assert settings.log_level == "INFO" and settings.max_concurrent_jobs == 4
    assert settings.log_format == "text"
    assert settings.database_target == Path("data/sora-bot.db")


def test_empty_environment_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*OPTIONAL_EMPTY, "MAX_CONCURRENT_JOBS", "DATABASE_URL"]:
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.dev_guild_id is None and settings.shard_count is None and settings.worker_slots is None
    assert settings.log_level == "INFO" and settings.max_concurrent_jobs == 4
    # An empty variable does not hide a value from .env either: it is simply not there.
    monkeypatch.setenv("DEV_GUILD_ID", "")
    Path(".env").write_text("DEV_GUILD_ID=123\n")
    assert load_settings().dev_guild_id == 123


ITOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpBYkNkRWZHaElq.x_y-z"


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR])
@pytest.mark.parametrize(
    "line",
    [
        f"POST https://discord.com/api/v10/webhooks/1174109840998400001/{ITOKEN}/messages/@original",
        f"PATCH https://discord.com/api/v10/webhooks/1174109840998400001/{ITOKEN}?wait=true has returned 200",
        f"POST https://discord.com/api/v10/webhooks/1174109840998400001/{ITOKEN} has returned 404",
        f"POST https://discord.com/api/v10/interactions/1578985520153755673/{ITOKEN}/callback returned 204",
        f"Event: {{'t': 'INTERACTION_CREATE', 'd': {{'type': 2, 'token': '{ITOKEN}', 'version': 1}}}}",
        f'target {{"kind": "discord", "interaction_token": "{ITOKEN}", "private": false}}',
        f'sql params (\'{{\\"interaction_token\\": \\"{ITOKEN}\\"}}\',)',
    ],
)
def test_log_filter_masks_interaction_tokens_by_pattern_at_every_level(
    caplog: pytest.LogCaptureFixture, level: int, line: str
) -> None:
    logger = logging.getLogger("test.redact.itoken")
    logger.addFilter(RedactSecrets([]))
    try:
        with caplog.at_level(logging.DEBUG, logger="test.redact.itoken"):
            logger.log(level, "%s", line)
            try:
                raise RuntimeError(line)
            except RuntimeError:
                logger.log(level, "failed", exc_info=True)
    finally:
        logger.filters.clear()
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert ITOKEN not in text and ITOKEN[:20] not in text
    assert MASK in caplog.records[0].getMessage()
    # The rest of the line stays readable.
    assert (
        "1174109840998400001" in text
        or "1578985520153755673" in text
        or "interaction_token" in text
        or ("'type': 2" in text)
    )
