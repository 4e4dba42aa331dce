-- The dashboard (issue 17): where each audit entry came from ('discord', 'dashboard'; NULL: the bot itself, or
-- an entry older than this column), and the roles a server gives dashboard access to beyond Discord's
-- permissions ('approver': decide approval requests, like Manage Messages; 'viewer': read only).
ALTER TABLE audit_log ADD COLUMN source TEXT;
CREATE TABLE staff_roles (
    guild_id BIGINT NOT NULL,
    role_id BIGINT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('approver', 'viewer')),
    PRIMARY KEY (guild_id, role_id)
);
-- Dashboard sessions ended by Log out: refused until they would have expired anyway, even from a copy of the
-- cookie.
CREATE TABLE dashboard_logouts (
    session_id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
-- The dashboard lists a server's jobs newest first (and the overview its latest): without this, SQLite read
-- and sorted every job of the server (200 ms at 50,000 jobs; `python -m bench.dashboard`).
CREATE INDEX jobs_by_guild_id ON jobs (guild_id, id);
