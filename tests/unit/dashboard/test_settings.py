"""The dashboard's settings: an https base URL (http only on this machine), a long enough secret, every
secret out of reprs, dumps and log lines, and the proxies whose forwarded client address is believed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from bot.cli_dashboard import server_config
from bot.errors import ConfigError
from bot.settings import Settings, load_settings
from tests.browser.serving import listening_socket, origin


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


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("", ""),
        ("127.0.0.1", "127.0.0.1"),
        (" 10.0.0.2 , 10.0.0.3", "10.0.0.2,10.0.0.3"),
        ("172.16.0.0/12,::1", "172.16.0.0/12,::1"),
    ],
)
def test_the_proxies_trusted_for_forwarded_headers_are_addresses_or_networks(value: str, kept: str) -> None:
    assert load_settings(dashboard_forwarded_allow_ips=value).dashboard_forwarded_allow_ips == kept


# "*": uvicorn would then believe the first X-Forwarded-For entry, which the client writes itself.
@pytest.mark.parametrize("value", ["proxy.example.org", "10.0.0.2;10.0.0.3", "*", "*,10.0.0.2", "10.0.0.300"])
def test_a_forwarded_allow_ips_that_is_no_address_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="DASHBOARD_FORWARDED_ALLOW_IPS is invalid"):
        load_settings(dashboard_forwarded_allow_ips=value)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGINT and SIGTERM stay pytest's


async def client_seen(allowed: str, forwarded_for: str) -> str:
    """The client address the app sees behind `sora-bot dashboard`'s uvicorn (its `server_config`), asked
    from 127.0.0.1 with X-Forwarded-For: `forwarded_for`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(scope["client"][0])(scope, receive, send)

    sock = listening_socket()
    server = _Server(server_config(Settings(dashboard_forwarded_allow_ips=allowed), app))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{origin(sock)}/", headers={"X-Forwarded-For": forwarded_for})
        return answer.text
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.mark.parametrize(
    ("allowed", "seen"),
    [
        ("", "127.0.0.1"),  # unset: no proxy is believed (uvicorn alone would believe 127.0.0.1)
        ("10.0.0.2", "127.0.0.1"),  # a header from anyone but the proxy is ignored
        ("127.0.0.1", "203.0.113.7"),
        ("127.0.0.0/8", "203.0.113.7"),
    ],
)
async def test_the_client_address_is_forwarded_by_the_trusted_proxy_only(allowed: str, seen: str) -> None:
    assert await client_seen(allowed, "203.0.113.7") == seen


async def test_an_entry_the_client_wrote_before_the_proxys_is_not_believed() -> None:
    """The proxy appends the address it saw; whatever the client put first is the client's own word."""
    assert await client_seen("127.0.0.1", "6.6.6.6, 203.0.113.7") == "203.0.113.7"
