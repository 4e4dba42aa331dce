"""Numbers the fake Discord shares across its parts: limits, permission bits, flags, intents, routes."""

from __future__ import annotations

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
MIB = 1024 * 1024

# Per-file upload limits by guild boost tier (discord.py guild.py `_PREMIUM_GUILD_LIMITS`).
UPLOAD_LIMITS = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
DM_UPLOAD_LIMIT = 10 * MIB
MAX_FILES = 10
MAX_REQUEST_BYTES = 25 * MIB  # "The maximum request size when sending a message is 25 MiB"; see request_limit
NONCE_WINDOW = 300.0  # seconds an enforced nonce is remembered ("the past few minutes")

# Permission bits the fake reasons about.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | SEND_MESSAGES_IN_THREADS

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
_SENDABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

# Gateway intents that decide which events the fake echoes, and the privileged ones.
GUILDS_INTENT = 1 << 0
GUILD_MESSAGES_INTENT = 1 << 9
DM_MESSAGES_INTENT = 1 << 12
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content

DEFAULT_APP_ID = ((1_700_000_000_000 - DISCORD_EPOCH_MS) << 22) | 1

CHANNEL_MESSAGES_POST = "POST /channels/{channel_id}/messages"
INTERACTION_CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP_POST = "POST /webhooks/{application_id}/{interaction_token}"
WEBHOOK_MESSAGE = "/webhooks/{application_id}/{interaction_token}/messages/{message_id}"

ROUTES: tuple[str, ...] = (
    "GET /users/@me",
    "GET /users/@me/guilds",
    "POST /users/@me/channels",
    "GET /users/{user_id}",
    "GET /oauth2/applications/@me",
    "GET /oauth2/authorize",
    "POST /oauth2/token",
    "GET /gateway/bot",
    "GET /gateway",
    "PUT /applications/{application_id}/commands",
    "GET /applications/{application_id}/commands",
    "PUT /applications/{application_id}/guilds/{guild_id}/commands",
    "GET /applications/{application_id}/guilds/{guild_id}/commands",
    INTERACTION_CALLBACK,
    FOLLOWUP_POST,
    "GET " + WEBHOOK_MESSAGE,
    "PATCH " + WEBHOOK_MESSAGE,
    "DELETE " + WEBHOOK_MESSAGE,
    "GET /channels/{channel_id}",
    "POST /channels/{channel_id}/typing",
    "GET /channels/{channel_id}/messages",
    CHANNEL_MESSAGES_POST,
    "GET /channels/{channel_id}/messages/{message_id}",
    "PATCH /channels/{channel_id}/messages/{message_id}",
    "DELETE /channels/{channel_id}/messages/{message_id}",
    "GET /guilds/{guild_id}",
    "GET /guilds/{guild_id}/channels",
    "GET /guilds/{guild_id}/roles",
    "GET /guilds/{guild_id}/members/{user_id}",
    "GET /cdn/{attachment_id}/{filename}",
)
