"""One validated settings object, read from the environment and `.env`, built once at start-up."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.limits import LimitRule
from bot.domain.pricing import Prices
from bot.domain.stories import SHOTS_MAX
from bot.errors import ConfigError

Backend = Literal["prodia", "local"]


class Settings(BaseSettings):
    """Every setting of the bot; names are the environment variables, case-insensitive."""

    # env_ignore_empty: `DEV_GUILD_ID=` (in .env or the environment) means unset, not "invalid integer".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    discord_token: SecretStr | None = None
    prodia_token: SecretStr | None = None
    prodia_base_url: str = "https://inference.prodia.com/v2"
    prodia_backend: Backend = "prodia"
    discord_api_base_url: str | None = None
    discord_gateway_url: str | None = None
    # A SecretStr: a PostgreSQL URL carries its password, which repr() and model_dump_json() must not show.
    database_url: SecretStr = SecretStr("sqlite:///data/sora-bot.db")
    database_busy_timeout_seconds: float = Field(default=10.0, gt=0)
    clip_retention_days: float = Field(default=30.0, gt=0)
    output_dir: Path = Path("data/clips")
    # Where clips and images are kept: unset or file://folder (OUTPUT_DIR, every process sees it), or
    # s3://bucket/prefix (then OUTPUT_DIR is each process's local working folder). See README "Storage".
    storage_url: str | None = None
    s3_endpoint_url: str | None = None  # MinIO, R2, B2, Garage...; unset: AWS
    s3_public_endpoint_url: str | None = (
        None  # the store's address for members (presigned links); unset: the above
    )
    s3_region: str | None = None  # unset: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
    storage_retry_seconds: float = Field(default=30.0, gt=0, le=600)
    # "Full quality" links on re-encoded clips: how long a signed link works; a public base URL (a public
    # bucket or CDN: links never expire; with HTTP_PORT, the public address of the bot's own clip server);
    # and, for file://, the port the bot serves its signed links on itself.
    clip_link_hours: float = Field(default=24.0 * 7, gt=0, le=24.0 * 7)
    public_clip_base_url: str | None = None
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    dev_guild_id: int | None = None
    shard_count: int | None = Field(default=None, ge=1, le=4096)
    # NoDecode: pydantic-settings would read a list from the environment as JSON only; `0,2` is parsed below.
    shard_ids: Annotated[list[int] | None, NoDecode] = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # /metrics, /healthz and /readyz over HTTP; unset: off. 0 picks a free port (tests).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 to let Prometheus or Kubernetes reach it from outside
    # The web dashboard (`sora-bot dashboard`, README "Dashboard"): its public base URL (the OAuth2
    # redirect is DASHBOARD_URL/callback), its port, the key that signs its session cookies, and the
    # application's OAuth2 client (the developer portal's OAuth2 page).
    dashboard_url: str | None = None
    dashboard_port: int = Field(default=8080, ge=0, le=65535)
    dashboard_host: str = "127.0.0.1"  # 0.0.0.0 behind a reverse proxy in another container
    dashboard_secret: SecretStr | None = None
    # The reverse proxy's address(es) whose X-Forwarded-For and X-Forwarded-Proto are believed (uvicorn's
    # forwarded_allow_ips: "10.0.0.2", a list "10.0.0.2,10.0.0.3", a network "172.16.0.0/12"). Empty:
    # none, and every sign-in behind a proxy comes from the proxy's address (one limit for all of them).
    dashboard_forwarded_allow_ips: str = ""
    discord_client_id: int | None = None
    discord_client_secret: SecretStr | None = None

    max_concurrent_jobs: int = Field(default=4, ge=1, le=256)
    worker_slots: int | None = Field(default=None, ge=1, le=256)
    database_pool_size: int = Field(default=10, ge=2, le=100)
    job_timeout_seconds: float = Field(default=1800.0, gt=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    # Worker processes for re-encodes, frames, images, stitching and the local renderer; 0: threads of this
    # process (as before the pool).
    # The CPUs this process may use (a container's cpuset, not the host's count), less one for the event loop.
    media_workers: int = Field(default_factory=lambda: max(1, len(os.sched_getaffinity(0)) - 1), ge=0, le=256)

    prodia_poll_min_seconds: float = Field(default=2.0, gt=0)
    prodia_poll_max_seconds: float = Field(default=5.0, gt=0)
    prodia_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    prodia_read_timeout_seconds: float = Field(default=60.0, gt=0)
    prodia_sync_timeout_seconds: float = Field(default=900.0, gt=0)
    prodia_max_attempts: int = Field(default=5, ge=1, le=20)
    prodia_retry_base_seconds: float = Field(default=1.0, ge=0)
    prodia_retry_after_max_seconds: float = Field(default=60.0, ge=0)

    price_sora2_per_second: float = Field(default=0.10, ge=0)
    price_sora2_pro_720p_per_second: float = Field(default=0.30, ge=0)
    price_sora2_pro_1080p_per_second: float = Field(default=0.50, ge=0)

    default_jobs_per_hour: int = Field(default=10, ge=0)
    default_video_seconds_per_day: int = Field(default=120, ge=0)
    default_concurrent_jobs: int = Field(default=2, ge=0)
    default_allow_pro: bool = True
    default_allow_hd: bool = True
    default_story_shots: int = Field(default=3, ge=0, le=SHOTS_MAX)  # below 2: no /story
    approval_expiry_seconds: float = Field(default=86400.0, gt=0)
    approval_sweep_seconds: float = Field(default=60.0, gt=0)

    def limit_defaults(self) -> LimitRule:
        """The bot's default member limits, below every server's own rules."""
        return LimitRule(
            scope="guild",
            target_id=0,
            jobs_per_hour=self.default_jobs_per_hour,
            video_seconds_per_day=self.default_video_seconds_per_day,
            concurrent=self.default_concurrent_jobs,
            pro=self.default_allow_pro,
            hd=self.default_allow_hd,
            story_shots=self.default_story_shots,
        )

    def prices(self) -> Prices:
        """The per-second prices estimates and budgets use until Prodia reports a job's price."""
        return Prices(
            sora2=self.price_sora2_per_second,
            sora2_pro_720p=self.price_sora2_pro_720p_per_second,
            sora2_pro_1080p=self.price_sora2_pro_1080p_per_second,
        )

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file://", "s3://")):
            raise ValueError("must be file://folder or s3://bucket/prefix")
        return value

    @field_validator("public_clip_base_url", "s3_endpoint_url", "s3_public_endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        """https, so its cookies can be Secure; plain http only on this machine (a test or a try-out)."""
        if value is None:
            return value
        parts = urlsplit(value)
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not (parts.scheme == "https" or local) or not parts.hostname:
            raise ValueError("must be an https:// URL (http:// only for 127.0.0.1 or localhost)")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            # Its pages, the OAuth2 redirect and the cookie are at the site's root.
            raise ValueError("must be the site's root, like https://dashboard.example.org (no path)")
        # As browsers send it in Origin: scheme and host in lower case, no default port.
        default = {"https": 443, "http": 80}[parts.scheme]
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        port = f":{parts.port}" if parts.port not in (None, default) else ""
        return f"{parts.scheme}://{host}{port}"

    @field_validator("dashboard_forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        """Addresses or networks separated by commas: a typo would trust no proxy without a word. Not "*":
        with it uvicorn believes the first X-Forwarded-For entry, which the client writes itself."""
        items = [item.strip() for item in value.split(",") if item.strip()]
        if "*" in items:
            raise ValueError(
                "\"*\" would believe any client's X-Forwarded-For: give the proxy's addresses or network"
            )
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network: the proxy's addresses, separated by commas"
                ) from None
        return ",".join(items)

    @field_validator("dashboard_secret")
    @classmethod
    def _dashboard_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            # The message never repeats the value.
            raise ValueError(
                "must be 32 characters or more: python3 -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return value

    @field_validator("prodia_base_url", "discord_api_base_url", "discord_gateway_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s) or ws(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_id_list(cls, value: object) -> object:
        """SHARD_IDS is `0,2` or JSON `[0,2]`; empty means unset (every shard of SHARD_COUNT)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        try:
            if text.startswith("["):
                return json.loads(text)
            return [int(part) for part in text.split(",")]
        except ValueError:
            raise ValueError("must be shard ids separated by commas, like 0,2 (or a JSON list)") from None

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if value is None or "shard_count" not in info.data:
            return value  # unset, or SHARD_COUNT is itself invalid and that error is the one reported
        count = info.data["shard_count"]
        if count is None:
            raise ValueError("needs SHARD_COUNT, the total number of shards, to be set too")
        if not value:
            raise ValueError("must name at least one shard (leave it unset to run every shard)")
        outside = [i for i in value if not 0 <= i < count]
        if outside:
            raise ValueError(f"shard {outside[0]} does not exist: SHARD_COUNT={count} has ids 0..{count - 1}")
        repeated = sorted({i for i in value if value.count(i) > 1})
        if repeated:
            raise ValueError(f"names shard {repeated[0]} more than once")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "must be sqlite:///path (sqlite:///relative or sqlite:////absolute) or postgresql://..."
            )
        if not url.startswith("sqlite:"):
            try:
                urlsplit(url).port  # noqa: B018 - urlsplit checks the port only when it is read
            except ValueError:
                # The message never repeats the URL: it carries the password.
                raise ValueError("the port must be a number from 1 to 65535, as in host:5432") from None
        return value

    @property
    def database_engine(self) -> Literal["sqlite", "postgresql"]:
        return "sqlite" if self.database_dsn.startswith("sqlite:") else "postgresql"

    @property
    def database_dsn(self) -> str:
        """The whole DATABASE_URL, password included: for the database driver only, never for messages."""
        return self.database_url.get_secret_value()

    @property
    def database_path(self) -> Path:
        """The SQLite file named by DATABASE_URL (three slashes relative, four absolute)."""
        if self.database_engine != "sqlite":
            raise ConfigError("DATABASE_URL names a PostgreSQL server, not an SQLite file")
        return Path(self.database_dsn.removeprefix("sqlite:///"))

    @property
    def database_target(self) -> Path | str:
        """What `Database.open` takes: the SQLite file, or the PostgreSQL URL."""
        return self.database_path if self.database_engine == "sqlite" else self.database_dsn

    @property
    def database_label(self) -> str:
        """The database for messages: the SQLite file, or the PostgreSQL server without its password."""
        if self.database_engine == "sqlite":
            return str(self.database_path)
        return redact_url(self.database_dsn)

    def secrets(self) -> list[str]:
        """Every secret value, for the log filter that keeps them out of log lines."""
        tokens = (self.discord_token, self.prodia_token, self.dashboard_secret, self.discord_client_secret)
        found = [s.get_secret_value() for s in tokens if s is not None]
        password = urlsplit(self.database_dsn).password  # postgresql://user:password@host/db
        return [*found, unquote(password)] if password else found

    def require(self, *names: str) -> None:
        """Stop with a ConfigError naming the first of `names` that is unset."""
        for name in names:
            value = getattr(self, name)
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value().strip()):
                raise ConfigError(f"{name.upper()} is not set (environment or .env)")


def redact_url(url: str) -> str:
    """A PostgreSQL URL for messages and logs: the server and database, never the user or password."""
    parts = urlsplit(url)
    try:
        port: int | str = parts.port or 5432
    except ValueError:  # a non-numeric port: still name the server, never fail on a message
        port = "?"
    return f"postgresql://{parts.hostname or 'localhost'}:{port}{parts.path}"


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation error into one line naming the setting (never its value)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        name = ".".join(str(part) for part in first["loc"]).upper() or "settings"
        raise ConfigError(f"{name} is invalid: {first['msg']}") from None
