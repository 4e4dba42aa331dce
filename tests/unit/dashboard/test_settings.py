"""The dashboard's settings: an https base URL (http only on this machine), a long enough secret, and every
secret out of reprs, dumps and log lines."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.settings import Settings, load_settings


@pytest.mark.parametrize(
    "url",
    [
        "http://dashboard.example.org",
        "ftp://dashboard.example.org",
        "https://dashboard.example.org/sub/path",
        "https://dashboard.example.org?x=1",
        "https://",
    ],
)
def test_a_dashboard_url_that_is_not_an_https_site_root_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="DASHBOARD_URL is invalid"):
        load_settings(dashboard_url=url)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://dashboard.example.org/", "https://dashboard.example.org"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        # As browsers send it in Origin (else every POST is refused, and the cookie loses Secure).
        ("HTTPS://Dash.Example.ORG:443/", "https://dash.example.org"),
        ("https://dash.example.org:8443", "https://dash.example.org:8443"),
    ],
)
def test_an_https_url_or_plain_http_on_this_machine_is_taken(url: str, kept: str) -> None:
    assert load_settings(dashboard_url=url).dashboard_url == kept


def test_a_short_dashboard_secret_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(dashboard_secret="hunter2-hunter2")
    assert "DASHBOARD_SECRET" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_the_dashboard_secrets_stay_out_of_reprs_dumps_and_logs() -> None:
    secret, client_secret = "d" * 40, "client-secret-value"
    settings = Settings(dashboard_secret=SecretStr(secret), discord_client_secret=SecretStr(client_secret))
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert secret not in text
        assert client_secret not in text
    assert {secret, client_secret} <= set(settings.secrets())
