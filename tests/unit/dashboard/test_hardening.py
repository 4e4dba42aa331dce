"""What a stranger can throw at the dashboard without an account: huge or odd bodies, a flood of stray
sign-in callbacks; and how the dashboard keeps Discord from banning the address it shares with the bot."""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.types import Message

from bot.dashboard import access
from bot.dashboard.access import GuardedDirectory, Role
from bot.dashboard.app import BODY_MAX, HOST_COOKIE, rest_client
from bot.dashboard.auth import ADDRESSES_MAX, EXCHANGES_PER_ADDRESS, Exchanges, Login
from bot.dashboard.discord_rest import (
    REFUSED_MAX,
    DiscordRest,
    DiscordUnavailable,
    Guild,
    Member,
    OAuthRefused,
)
from tests.browser.serving import listening_socket, served
from tests.unit.dashboard.conftest import DASHBOARD_URL, World
from tests.unit.dashboard.test_access import csrf_of

ORIGIN = {"origin": DASHBOARD_URL}


async def test_a_body_over_the_limit_is_refused_before_it_is_read_logged_in_or_not(world: World) -> None:
    big = b"csrf=" + b"a" * BODY_MAX
    async with world.browser() as browser:
        stranger = await browser.post("/logout", content=big, headers={**ORIGIN, "content-type": FORM})
        await world.log_in(browser, world.users["owner"])
        token = await csrf_of((await browser.get("/")).text)

        async def chunks() -> object:  # no Content-Length: counted as it arrives
            yield f"csrf={token}&reason=".encode()
            for _ in range(BODY_MAX // 4096 + 2):
                yield b"x" * 4096

        streamed = await browser.post(
            f"/servers/{world.guild.id}/settings/budget",
            content=chunks(),  # type: ignore[arg-type]
            headers={**ORIGIN, "content-type": FORM},
        )
        just_right = await browser.post(
            "/logout", data={"csrf": token, "pad": "a" * (BODY_MAX - 200)}, headers=ORIGIN
        )
    assert stranger.status_code == 413
    assert streamed.status_code == 413
    # Both refusals end the connection: the server need not read (and throw away) the rest of the body.
    assert stranger.headers["connection"] == streamed.headers["connection"] == "close"
    assert "This form is too big." in streamed.text  # the error page, rendered with its headers
    assert just_right.status_code == 303  # a form under the limit is read as ever
    assert "connection" not in just_right.headers
    assert await world.governance.audit_entries(world.guild.id) == []


async def test_only_urlencoded_forms_are_taken(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        token = await csrf_of((await browser.get("/")).text)
        upload = await browser.post(
            f"/servers/{world.guild.id}/settings/budget",
            data={"csrf": token, "dollars_per_day": "5", "confirm": "1"},
            files={"file": ("x.bin", b"\0" * 1000)},
            headers=ORIGIN,
        )
        as_json = await browser.post("/logout", json={"csrf": token}, headers=ORIGIN)
    assert (upload.status_code, as_json.status_code) == (415, 415)
    assert upload.headers["connection"] == as_json.headers["connection"] == "close"
    assert (await world.governance.settings(world.guild.id)).budget_dollars_per_day is None


async def raw_post(port: int, head: list[str], body: bytes) -> bytes:
    """`body` sent after `head` (and no more) on a new connection to 127.0.0.1:`port`; all the server
    answered until it closed the connection (a timeout if it keeps the connection open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write("\r\n".join([*head, "", ""]).encode() + body)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()  # to the end: the server closed the connection
    finally:
        writer.close()


async def test_uvicorn_closes_the_connection_after_a_413_instead_of_reading_the_rest(world: World) -> None:
    """Served by a real uvicorn: a body announced too big, and one sent in chunks (no Content-Length) that
    grows too big, are answered 413 and the connection closed at once, though the sender has more to send."""
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        token = await csrf_of((await browser.get("/")).text)
        cookie = f"{HOST_COOKIE}={browser.cookies[HOST_COOKIE]}"
    sock = listening_socket()
    port = sock.getsockname()[1]
    async with served(world.app, sock):
        form = [f"Host: 127.0.0.1:{port}", f"Content-Type: {FORM}", f"Origin: {DASHBOARD_URL}"]
        too_big = f"Content-Length: {BODY_MAX * 100}"
        announced = await raw_post(port, ["POST /logout HTTP/1.1", *form, too_big], b"csrf=" + b"a" * 1000)
        piece = b"x" * 4096
        chunks = f"{len(token) + 5:x}\r\ncsrf={token}\r\n".encode() + b"".join(
            f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(BODY_MAX // len(piece) + 1)
        )
        streamed = await raw_post(
            port, ["POST /logout HTTP/1.1", *form, f"Cookie: {cookie}", "Transfer-Encoding: chunked"], chunks
        )
    for answer in (announced, streamed):
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 413 "), answer[:200]
        assert b"\r\nconnection: close" in head
    assert b"This form is too big." in streamed  # the error page
    assert not await world.db.reader.fetch_all("SELECT * FROM dashboard_logouts")  # still signed in


async def test_any_answer_given_before_the_body_was_read_closes_the_connection(world: World) -> None:
    """A refusal before the form is read (a wrong Origin, no such route) or a body on a GET: closed at
    once, though the sender has a long chunked body still to send."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    piece = b"x" * 4096
    chunks = b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(4))  # no end
    async with served(world.app, sock):
        host, chunked = f"Host: 127.0.0.1:{port}", "Transfer-Encoding: chunked"
        form = f"Content-Type: {FORM}"
        answers = {
            "wrong origin": await raw_post(
                port, ["POST /logout HTTP/1.1", host, form, "Origin: https://evil.example", chunked], chunks
            ),
            "no such route": await raw_post(
                port, ["POST /servers/1/nothing HTTP/1.1", host, form, chunked], chunks
            ),
            "body on a get": await raw_post(port, ["GET / HTTP/1.1", host, chunked], chunks),
        }
    for case, answer in answers.items():
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert b"\r\nconnection: close" in head, (case, head)
    assert answers["body on a get"].startswith(b"HTTP/1.1 200 ")  # the page, its body never read


@pytest.mark.parametrize("number", ["9" * 5000, "0" * 4999 + "7", "²", "1" * 21])
async def test_a_number_in_a_query_too_long_or_not_plain_digits_is_a_400_not_a_500(
    world: World, number: str
) -> None:
    """Python's int() refuses a string of more than 4,300 digits (ValueError): checked before it is used."""
    gid = world.guild.id
    pages = [
        f"/servers/{gid}/audit?before_id={number}",
        f"/servers/{gid}/spend?days={number}",
        f"/servers/{gid}/spend.png?days={number}",
        f"/servers/{gid}/jobs?member={number}",
        f"/servers/{gid}/jobs?before={number}",
        f"/servers/{gid}/lists?member={number}",
        f"/servers?guild={number}",
    ]
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        answers = {page: (await browser.get(page)).status_code for page in pages}
    assert answers == dict.fromkeys(pages, 400)


@pytest.mark.parametrize("length", ["9" * 5000, "²"])
async def test_a_content_length_of_thousands_of_digits_is_a_413_not_a_500(world: World, length: str) -> None:
    """Sent to the app as a server would pass it on (httpx would write its own Content-Length)."""
    sent: list[Message] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "https", "path": "/logout", "raw_path": b"/logout", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"dashboard.example.org"), (b"content-type", FORM.encode()),
                    (b"content-length", length.encode("latin-1"))],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 443),
    }  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": b"csrf=x", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await world.app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_log_out_without_a_session_is_refused_without_reading_the_form(world: World) -> None:
    async with world.browser() as browser:
        answer = await browser.post("/logout", data={"csrf": "x"}, headers=ORIGIN)
    assert answer.status_code == 403


async def stray_callback(browser: httpx.AsyncClient) -> int:
    """A sign-in started here whose callback brings a made-up code (anyone can send one): its status."""
    start = await browser.get("/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    return (await browser.get("/callback", params={"state": state, "code": "junk"})).status_code


def exchanges(world: World) -> int:
    """The codes the dashboard asked Discord to exchange."""
    return len(world.fake.requests_for("POST /oauth2/token"))


async def test_one_address_flooding_stray_callbacks_is_throttled_and_everyone_else_still_signs_in(
    world: World,
) -> None:
    async with world.browser("10.0.0.5") as flooder, world.browser("10.0.0.6") as member:
        answers = [await stray_callback(flooder) for _ in range(EXCHANGES_PER_ADDRESS + 5)]
        assert answers == [400] * EXCHANGES_PER_ADDRESS + [429] * 5
        assert exchanges(world) == EXCHANGES_PER_ADDRESS  # the throttled ones never reached Discord
        assert (await world.log_in(member, world.users["owner"])).status_code == 303
        assert (await member.get(f"/servers/{world.guild.id}")).status_code == 200
        assert (await world.log_in(flooder, world.users["owner"])).status_code == 429
        world.now[0] += 61  # a minute on: the flooder's address is taken again
        assert (await world.log_in(flooder, world.users["owner"])).status_code == 303
        assert (await flooder.get(f"/servers/{world.guild.id}")).status_code == 200


async def test_a_throttled_sign_in_keeps_its_state_and_works_a_minute_later(world: World) -> None:
    async with world.browser("10.0.0.7") as browser:
        for _ in range(EXCHANGES_PER_ADDRESS):
            assert await stray_callback(browser) == 400
        world.fake.oauth_user_id = world.users["owner"]
        start = await browser.get("/login")
        async with httpx.AsyncClient() as discord_page:
            back = (await discord_page.get(start.headers["location"])).headers["location"]
        throttled = await browser.get(back)
        assert throttled.status_code == 429
        assert "Too many sign-ins at once" in throttled.text
        assert exchanges(world) == EXCHANGES_PER_ADDRESS  # its code is still unused
        world.now[0] += 61
        signed_in = await browser.get(back)  # the same link again: its state was kept
        assert signed_in.status_code == 303, signed_in.text
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 200


async def test_stray_callbacks_from_many_addresses_lock_no_one_else_out(world: World) -> None:
    """No overall cap: strangers with many addresses can't stop a member signing in (Discord's own 429s on
    the token route would be waited out; junk codes do not count toward its ban)."""
    for n in range(40):  # 400 junk exchanges in a minute, each address within its limit
        async with world.browser(f"10.1.0.{n + 1}") as browser:
            answers = [await stray_callback(browser) for _ in range(EXCHANGES_PER_ADDRESS)]
            assert answers == [400] * EXCHANGES_PER_ADDRESS
    async with world.browser("10.2.0.1") as member:
        assert (await world.log_in(member, world.users["owner"])).status_code == 303


async def test_an_ipv6_subscribers_addresses_share_one_limit(world: World) -> None:
    """One subscriber gets a /64 of IPv6 addresses: they count as one address."""
    for n in range(EXCHANGES_PER_ADDRESS):
        async with world.browser(f"2001:db8:0:1::{n + 1:x}") as browser:
            assert await stray_callback(browser) == 400
    async with world.browser("2001:db8:0:1::ffff") as same_block, world.browser("2001:db8:0:2::1") as other:
        assert await stray_callback(same_block) == 429
        assert await stray_callback(other) == 400


def test_the_sign_in_limits_memory_is_bounded() -> None:
    exchanges = Exchanges()
    for n in range(ADDRESSES_MAX + 10):
        address = str(ipaddress.IPv4Address(0x0A000000 + n))
        assert exchanges.allowed(address, 1000.0)
        exchanges.count(address, 1000.0)
    assert exchanges.allowed("10.255.255.255", 1000.0)
    assert len(exchanges._times) <= ADDRESSES_MAX + 1


async def test_after_a_429_nothing_is_sent_to_discord_until_its_retry_after(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("GET /guilds/{guild_id}", status=429, retry_after=0.3)
        asked = len(world.fake.requests_for("GET /guilds/{guild_id}"))
        for _ in range(3):  # a 429 and the wait after it are Discord unavailable
            with pytest.raises(DiscordUnavailable):
                await discord.guild(world.guild.id)
        assert len(world.fake.requests_for("GET /guilds/{guild_id}")) == asked + 1  # only the first was sent
        await asyncio.sleep(0.35)
        guild = await discord.guild(world.guild.id)
        assert guild is not None and guild.id == world.guild.id
    finally:
        await discord.close()


async def test_a_429_holds_back_its_route_of_that_server_only_and_a_global_one_every_route(
    world: World,
) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("GET /guilds/{guild_id}", status=429, retry_after=5.0)
        with pytest.raises(DiscordUnavailable):
            await discord.guild(world.guild.id)
        with pytest.raises(DiscordUnavailable):  # the same server's route waits
            await discord.guild(world.guild.id)
        assert await discord.guild(world.other.id) is not None  # another server's does not
        assert await discord.member(world.guild.id, world.users["owner"]) is not None  # nor another route
        world.fake.fail_next("GET /guilds/{guild_id}/channels", status=429, retry_after=5.0, is_global=True)
        with pytest.raises(DiscordUnavailable):
            await discord.channels(world.other.id)
        sent = len(world.fake.requests)
        for call in (discord.guild(world.other.id), discord.member(world.other.id, world.users["stranger"])):
            with pytest.raises(DiscordUnavailable):
                await call
        assert len(world.fake.requests) == sent  # a global 429: nothing at all is sent
    finally:
        await discord.close()


async def test_a_shared_429_is_not_counted_as_a_refusal() -> None:
    """Discord does not count 429s of a shared limit (X-RateLimit-Scope: shared) toward its ban."""
    answers = iter(
        [
            httpx.Response(
                429, json={"retry_after": 0, "global": False}, headers={"X-RateLimit-Scope": "shared"}
            ),
            httpx.Response(
                429, json={"retry_after": 0, "global": False}, headers={"X-RateLimit-Scope": "user"}
            ),
            httpx.Response(403, json={"code": 50001, "message": "Missing Access"}),
        ]
    )
    discord = DiscordRest("t", transport=httpx.MockTransport(lambda request: next(answers)))
    try:
        for _ in range(2):
            with pytest.raises(DiscordUnavailable):
                await discord.guild(1)
        assert await discord.guild(1) is None
        assert len(discord._refused) == 2  # the user-scoped 429 and the 403
    finally:
        await discord.close()


async def test_too_many_refusals_in_ten_minutes_stop_the_calls_before_discord_would_ban_the_host(
    world: World,
) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("GET /guilds/{guild_id}", status=403, code=50001, times=3)
        for _ in range(3):
            assert await discord.guild(world.guild.id) is None  # a 403 is "not the bot's server"
        assert len(discord._refused) == 3
        discord._refused += [discord._refused[-1]] * (REFUSED_MAX - 3)
        sent = len(world.fake.requests)
        with pytest.raises(DiscordUnavailable):  # held back
            await discord.guild(world.guild.id)
        assert len(world.fake.requests) == sent
        # Signing in is not the bot token's doing: it is not held back by them.
        with pytest.raises(OAuthRefused):
            await discord.exchange_code(
                "junk", client_id=1, client_secret="x", redirect_uri="https://x/callback"
            )
        assert len(world.fake.requests) == sent + 1
    finally:
        await discord.close()


async def test_the_oauth_client_secret_is_in_no_repr(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    login = Login(
        client_id=1, client_secret="very-secret-value", base_url=DASHBOARD_URL, discord=discord, clock=float
    )
    await discord.close()
    assert "very-secret-value" not in repr(login)
    assert world.fake.bot_token not in repr(discord)


async def test_over_https_the_session_cookie_is_a_host_only_one(world: World) -> None:
    async with world.browser() as browser:
        done = await world.log_in(browser, world.users["owner"])
    assert done.headers["set-cookie"].startswith("__Host-sora_dashboard=")
    assert "domain=" not in done.headers["set-cookie"].lower()


FORM = "application/x-www-form-urlencoded"


# -- the bot's server list ---------------------------------------------------------------------------------


async def test_requests_at_once_read_the_server_list_once(world: World) -> None:
    for n in range(600):
        world.fake.add_guild(name=f"s{n}")
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    directory = GuardedDirectory(discord, budget=100)
    try:
        answers = await asyncio.gather(
            *(directory.require(world.users["owner"], world.guild.id, Role.VIEWER) for _ in range(20)),
            return_exceptions=True,
        )
    finally:
        await discord.close()
    assert all(not isinstance(a, BaseException) for a in answers)
    assert (
        len(world.fake.requests_for("GET /users/@me/guilds")) == 5
    )  # 602 servers: 4 pages, then an empty one


async def test_a_short_page_before_the_last_does_not_end_the_list() -> None:
    """discord-api-docs#5886: a first page of 199 for a bot in more than 200 servers."""
    servers = list(range(1, 451))
    pages = iter([servers[:199], servers[199:399], servers[399:], []])
    discord = DiscordRest(
        "t",
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json=[{"id": str(i)} for i in next(pages)])
        ),
    )
    try:
        assert await discord.guild_ids() == set(servers)
    finally:
        await discord.close()


@pytest.mark.parametrize("body", [b'{"message": "odd"}', b"<html>busy</html>", b'[{"name": "no id"}]'])
async def test_an_answer_not_shaped_as_discord_documents_is_discord_unavailable(body: bytes) -> None:
    discord = DiscordRest("t", transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body)))
    try:
        for call in (discord.guild_ids(), discord.guild(1), discord.member(1, 2), discord.channels(1)):
            with pytest.raises(DiscordUnavailable):
                await call
    finally:
        await discord.close()


async def test_a_server_the_bot_left_is_not_asked_about_again(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    directory = GuardedDirectory(discord, budget=100)
    try:
        await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)
        del world.fake.guilds[world.guild.id]  # the bot was removed
        world.fake.foreign_guild_ids.add(world.guild.id)
        for _ in range(5):
            with pytest.raises(HTTPException):
                await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)
    finally:
        await discord.close()
    refused = [r for r in world.fake.requests_for("GET /guilds/{guild_id}") if r.status == 403]
    assert len(refused) == 1


async def test_a_server_list_that_cant_be_read_again_is_kept(world: World) -> None:
    clock = [1000.0]
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    directory = GuardedDirectory(discord, budget=100, clock=lambda: clock[0])
    try:
        await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)
        clock[0] += 301  # the list is old
        world.fake.fail_next("GET /users/@me/guilds", status=500, times=3)
        await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)  # the old list serves
        asked = len(world.fake.requests_for("GET /users/@me/guilds"))
        for _ in range(5):
            await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)
        assert len(world.fake.requests_for("GET /users/@me/guilds")) == asked  # not tried on every request
    finally:
        await discord.close()


async def test_a_global_429_on_the_sign_in_does_not_hold_back_the_bot_token(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        world.fake.fail_next("POST /oauth2/token", status=429, retry_after=30.0, is_global=True)
        with pytest.raises(DiscordUnavailable):
            await discord.exchange_code(
                "x", client_id=1, client_secret="s", redirect_uri="https://x/callback"
            )
        with pytest.raises(DiscordUnavailable):  # the sign-in waits
            await discord.exchange_code(
                "x", client_id=1, client_secret="s", redirect_uri="https://x/callback"
            )
        assert await discord.guild(world.guild.id) is not None  # the bot token does not
    finally:
        await discord.close()


class SlowList:
    """A Directory whose server list fails (or hangs) after `delay`, counting its reads."""

    def __init__(self, world: World, *, delay: float, fail: bool = True, hang: bool = False) -> None:
        self.rest = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
        self.delay, self.fail, self.hang, self.reads = delay, fail, hang, 0

    async def guild(self, guild_id: int) -> Guild | None:
        return await self.rest.guild(guild_id)

    async def member(self, guild_id: int, user_id: int) -> Member | None:
        return await self.rest.member(guild_id, user_id)

    async def guild_ids(self) -> set[int]:
        self.reads += 1
        await asyncio.sleep(3600 if self.hang else self.delay)
        if self.fail:
            raise DiscordUnavailable("HTTP 500")
        return await self.rest.guild_ids()


async def test_requests_waiting_on_a_failed_first_read_do_not_each_read_again(world: World) -> None:
    slow = SlowList(world, delay=0.2)
    directory = GuardedDirectory(slow, budget=100)
    try:
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(
            *(directory.require(world.users["owner"], world.guild.id, Role.VIEWER) for _ in range(10)),
            return_exceptions=True,
        )
        took = asyncio.get_running_loop().time() - started
    finally:
        await slow.rest.close()
    assert all(isinstance(a, DiscordUnavailable) for a in answers)  # a 503 each
    assert slow.reads == 1 and took < 1.0


async def test_after_a_failed_read_discord_is_asked_again_only_every_few_seconds(world: World) -> None:
    clock = [1000.0]
    slow = SlowList(world, delay=0, fail=False)
    directory = GuardedDirectory(slow, budget=100, clock=lambda: clock[0])
    try:
        await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)
        clock[0] += 301
        slow.fail = True
        for n in range(5):  # servers not on the list, and the list old: one read, then the old list answers
            with pytest.raises(HTTPException):
                await directory.require(world.users["owner"], 5000 + n, Role.VIEWER)
        assert slow.reads == 2
        clock[0] += 11
        with pytest.raises(HTTPException):
            await directory.require(world.users["owner"], 6000, Role.VIEWER)
        assert slow.reads == 3
    finally:
        await slow.rest.close()


async def test_a_read_that_hangs_is_given_up_and_the_old_list_answers_meanwhile(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access, "READ_SECONDS", 0.3)
    clock = [1000.0]
    slow = SlowList(world, delay=0, fail=False)
    directory = GuardedDirectory(slow, budget=100, clock=lambda: clock[0])
    try:
        await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)
        clock[0] += 301
        slow.hang = True
        reading = asyncio.ensure_future(directory.require(world.users["owner"], world.guild.id, Role.VIEWER))
        await asyncio.sleep(0.05)
        answered = await directory.require(world.users["owner"], world.guild.id, Role.VIEWER)  # not queued
        assert answered.role is Role.ADMIN and not reading.done()
        assert (await reading).role is Role.ADMIN  # given up after READ_SECONDS: the old list
    finally:
        await slow.rest.close()


async def test_the_same_page_again_is_an_error_not_a_short_list() -> None:
    page = [{"id": str(n)} for n in range(1, 201)]
    discord = DiscordRest("t", transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page)))
    try:
        with pytest.raises(DiscordUnavailable):
            await discord.guild_ids()
    finally:
        await discord.close()


@pytest.mark.parametrize("body", [b"{}", b"[]", b'{"access_token": 5, "id": "x"}', b"[" * 100_000])
async def test_a_sign_in_answer_not_shaped_as_discord_documents_is_a_503(body: bytes) -> None:
    discord = DiscordRest("t", transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body)))
    try:
        with pytest.raises(DiscordUnavailable):
            await discord.user_id("token")
        if body != b'{"access_token": 5, "id": "x"}':
            with pytest.raises(DiscordUnavailable):
                await discord.exchange_code("c", client_id=1, client_secret="s", redirect_uri="https://x/c")
    finally:
        await discord.close()


def test_a_full_address_table_forgets_the_first_seen_not_a_busy_address() -> None:
    exchanges = Exchanges()
    busy = "192.0.2.1"
    for _ in range(EXCHANGES_PER_ADDRESS):
        exchanges.count(busy, 1000.0)
    for n in range(ADDRESSES_MAX + 5):
        exchanges.count(str(ipaddress.IPv4Address(0x0A000000 + n)), 1000.0)
    exchanges.count(busy, 1000.0)  # seen again: last in the table
    assert not exchanges.allowed(busy, 1001.0)
    assert len(exchanges._times) <= ADDRESSES_MAX


def test_the_dashboards_discord_client_pings_no_one_by_default() -> None:
    client = rest_client()
    mentions = client.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles, mentions.replied_user) == (False,) * 4
