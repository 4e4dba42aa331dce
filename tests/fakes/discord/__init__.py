"""A fake Discord (REST API v10 + gateway + CDN), served over real HTTP/websockets on 127.0.0.1.

It runs in the test's event loop, next to the real discord.py client under test, and follows
``shared/reference/discord-test-server.md``. It is the referee for what the bot sends: it keeps a small
world (guilds, channels, roles, members, messages, interactions) and answers like Discord does, including
the rules bots trip over (upload limits, acknowledged-twice interactions, nonce de-duplication, the first
followup after a defer resolving the "thinking" message, component and embed limits).

Start a real bot against it with `running_bot` (or patch by hand with `redirect_discord`)::

    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel_id = guild.add_channel("general")
        user_id = guild.add_member(name="alice")
        async with running_bot(fake, MyBot()):
            inter = await fake.slash("imagine", [{"name": "prompt", "value": "a cat"}],
                                     guild_id=guild.id, channel_id=channel_id, user_id=user_id)
            await fake.wait_for(lambda r: r.route == CHANNEL_MESSAGES_POST)

Route templates (``RecordedRequest.route`` and `FakeDiscord.fail_next` use them; paths are under
``/api/v10`` except the CDN):

    GET /users/@me                      GET /users/{user_id}            POST /users/@me/channels
    GET /users/@me/guilds (the bot's servers, 200 a page: `after`, `before`, `limit`)
    GET /oauth2/applications/@me        GET /gateway/bot                GET /gateway
    GET /oauth2/authorize               POST /oauth2/token              (Login with Discord: oauth.py;
                                        GET /users/@me with `Authorization: Bearer` is that user)
    PUT|GET /applications/{application_id}/commands
    PUT|GET /applications/{application_id}/guilds/{guild_id}/commands
    POST /interactions/{interaction_id}/{interaction_token}/callback
    POST /webhooks/{application_id}/{interaction_token}
    GET|PATCH|DELETE /webhooks/{application_id}/{interaction_token}/messages/{message_id}   (also @original)
    GET /channels/{channel_id}          POST /channels/{channel_id}/typing
    GET|POST /channels/{channel_id}/messages
    GET|PATCH|DELETE /channels/{channel_id}/messages/{message_id}
    GET /guilds/{guild_id}              GET /guilds/{guild_id}/channels       GET /guilds/{guild_id}/roles
    GET /guilds/{guild_id}/members/{user_id}
    GET /cdn/{attachment_id}/{filename}

Anything else answers 404 ``{"message": "Unknown route", "code": 0}`` and is recorded with ``route=None``.

Choices where Discord's behaviour is not pinned down by the notes:
  - ``mentions``/``mention_roles``/``mention_everyone`` of a stored message are the *pings* after
    ``allowed_mentions`` (default: every mention in a bot-token message, user mentions only in an
    interaction response or followup, as Discord documents) and the bot's MENTION_EVERYONE permission.
  - Attachment file names are sanitised like Discord does (whitespace -> ``_``, odd characters dropped),
    and ``content_type`` is guessed from the extension (discord.py always uploads octet-stream).
  - Channel permissions are enforced for bot-token routes (``permissions_enforced``), never for
    interaction callbacks/webhooks (Discord lets an app answer where it cannot post).
  - Messages the bot creates/edits/deletes are echoed as MESSAGE_CREATE/UPDATE/DELETE when the bot asked for
    the guild (or DM) messages intent; ephemeral ones never are.

Limits: every message body (posts, edits, callbacks, followups), modal and command sync is checked against
Discord's documented limits (validation.py, components.py, commands.py: one small function per rule) and
refused with 400 / 50035 and Discord's nested ``errors``; uploads get 413 / 40005 over the route's
per-file limit (`request_limit` for the whole request). ``validate_payloads`` / ``upload_limit_enforced``
turn that off.

Refusals: every 4xx the fake decides itself (not a 429, not a `fail_next` fault) is in `refusals`; those no
`expect_refusal` / `expecting` declaration covers are `unexpected_refusals`, which the end-to-end suite's
guard (tests/e2e/conftest.py) turns into a failed test: the bot sent something Discord would refuse.

Shards: every IDENTIFY's ``shard`` [id, count] (none means [0, 1]; an invalid one is closed with 4010) opens
that shard's session, replacing an earlier session of the same shard; an IDENTIFY with a different count
drops the sessions of the old count (a resharded restart). A guild's READY entry, GUILD_CREATE and events
(interactions, message echoes) go only to shard ``(guild_id >> 22) % count`` (`shard_of`); DMs go to
shard 0. ``GET /gateway/bot`` answers ``recommended_shards``.

Layout: constants (limits, permission bits, routes), records (recorded requests, faults, interactions),
world (guilds, channels, roles, members, permissions), core (state, waits, faults), refusals (the refusal
guard), gateway (sessions, shards, IDENTIFY/RESUME), interactions (slash, click, modal submit), callbacks
(interaction callbacks, followups, webhook messages), channels and messages (posts, nonces, uploads, CDN),
guilds, oauth (the authorization code grant), commands (sync and its limits), validation and
components (message, embed, component and modal
limits), fake (`FakeDiscord`: routing, recording), running (a real bot against it). The HTTP server, the
request log and the fault queue are shared with the fake Prodia (tests/fakes/server.py).
"""

from tests.fakes.discord.commands import COMMAND_SIZE_LIMIT, MAX_CHOICES, MAX_COMMAND_OPTIONS
from tests.fakes.discord.components import (
    MAX_ACTION_ROWS,
    MAX_MODAL_COMPONENTS,
    MAX_ROW_BUTTONS,
    MAX_SELECT_OPTIONS,
    TEXT_INPUT_LIMIT,
    _modal_problems,
)
from tests.fakes.discord.constants import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    API_PREFIX,
    ATTACH_FILES,
    CHANNEL_MESSAGES_POST,
    DEFAULT_APP_ID,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DISCORD_EPOCH_MS,
    DM_MESSAGES_INTENT,
    DM_UPLOAD_LIMIT,
    EMBED_LINKS,
    EPHEMERAL,
    FOLLOWUP_POST,
    GUILD_MESSAGES_INTENT,
    INTERACTION_CALLBACK,
    IS_COMPONENTS_V2,
    LOADING,
    MANAGE_MESSAGES,
    MAX_FILES,
    MAX_REQUEST_BYTES,
    MENTION_EVERYONE,
    MIB,
    NONCE_WINDOW,
    PRIVILEGED_INTENTS,
    READ_MESSAGE_HISTORY,
    ROUTES,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    SUPPRESS_EMBEDS,
    SUPPRESS_NOTIFICATIONS,
    UPLOAD_LIMITS,
    USE_APPLICATION_COMMANDS,
    VIEW_CHANNEL,
    WEBHOOK_MESSAGE,
)
from tests.fakes.discord.fake import FakeDiscord
from tests.fakes.discord.messages import guess_content_type, request_limit, sanitize_filename
from tests.fakes.discord.records import CdnFile, ExpectedRefusal, Fault, Interaction, RecordedRequest, Upload
from tests.fakes.discord.running import redirect_discord, running_bot
from tests.fakes.discord.validation import CONTENT_LIMIT, EMBED_TOTAL_LIMIT, MAX_EMBEDS, Problems
from tests.fakes.discord.world import FakeChannel, FakeGuild, FakeMember, FakeRole, shard_of

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "API_PREFIX",
    "ATTACH_FILES",
    "CHANNEL_MESSAGES_POST",
    "COMMAND_SIZE_LIMIT",
    "CONTENT_LIMIT",
    "DEFAULT_APP_ID",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "DM_MESSAGES_INTENT",
    "DM_UPLOAD_LIMIT",
    "EMBED_LINKS",
    "EMBED_TOTAL_LIMIT",
    "EPHEMERAL",
    "FOLLOWUP_POST",
    "GUILD_MESSAGES_INTENT",
    "INTERACTION_CALLBACK",
    "IS_COMPONENTS_V2",
    "LOADING",
    "MANAGE_MESSAGES",
    "MAX_ACTION_ROWS",
    "MAX_CHOICES",
    "MAX_COMMAND_OPTIONS",
    "MAX_EMBEDS",
    "MAX_FILES",
    "MAX_MODAL_COMPONENTS",
    "MAX_REQUEST_BYTES",
    "MAX_ROW_BUTTONS",
    "MAX_SELECT_OPTIONS",
    "MENTION_EVERYONE",
    "MIB",
    "NONCE_WINDOW",
    "PRIVILEGED_INTENTS",
    "READ_MESSAGE_HISTORY",
    "ROUTES",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "SUPPRESS_EMBEDS",
    "SUPPRESS_NOTIFICATIONS",
    "TEXT_INPUT_LIMIT",
    "UPLOAD_LIMITS",
    "USE_APPLICATION_COMMANDS",
    "VIEW_CHANNEL",
    "WEBHOOK_MESSAGE",
    "CdnFile",
    "ExpectedRefusal",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "Fault",
    "Interaction",
    "Problems",
    "RecordedRequest",
    "Upload",
    "_modal_problems",
    "guess_content_type",
    "redirect_discord",
    "request_limit",
    "running_bot",
    "sanitize_filename",
    "shard_of",
]
