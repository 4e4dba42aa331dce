-- Per-server governance: settings, limit rules, where and who, prompt rules, strikes, approvals, audit.
CREATE TABLE guild_settings (
    guild_id                 INTEGER PRIMARY KEY,
    budget_dollars_per_day   REAL,
    approvals_channel_id     INTEGER,
    approvals_trusted_role_id INTEGER,
    audit_channel_id         INTEGER,
    default_duration         INTEGER,
    default_aspect_ratio     TEXT,
    default_model            TEXT,
    age_restricted_images    INTEGER NOT NULL DEFAULT 0,
    strikes_to_block         INTEGER NOT NULL DEFAULT 3,
    updated_at               REAL    NOT NULL
);

-- scope 'guild' (target_id = guild id: the server's own defaults), 'role' or 'user'; NULL = not set here.
CREATE TABLE limit_rules (
    guild_id              INTEGER NOT NULL,
    scope                 TEXT    NOT NULL CHECK (scope IN ('guild', 'role', 'user')),
    target_id             INTEGER NOT NULL,
    jobs_per_hour         INTEGER,
    video_seconds_per_day INTEGER,
    concurrent            INTEGER,
    pro                   INTEGER,
    hd                    INTEGER,
    PRIMARY KEY (guild_id, scope, target_id)
);

CREATE TABLE allowed_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE allowed_roles (
    guild_id INTEGER NOT NULL,
    role_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

CREATE TABLE blocklist (
    guild_id   INTEGER NOT NULL,
    pattern    TEXT    NOT NULL,
    is_regex   INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, pattern, is_regex)
);

CREATE TABLE member_status (
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    strikes        INTEGER NOT NULL DEFAULT 0,
    blocked        INTEGER NOT NULL DEFAULT 0,
    usage_reset_at REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    actor_id   INTEGER,
    action     TEXT    NOT NULL,
    job_id     INTEGER,
    details    TEXT    NOT NULL DEFAULT '{}',
    created_at REAL    NOT NULL
);
CREATE INDEX audit_by_guild ON audit_log (guild_id, created_at);

ALTER TABLE jobs ADD COLUMN approved_by INTEGER;
ALTER TABLE jobs ADD COLUMN approval_message_id INTEGER;
CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at);
