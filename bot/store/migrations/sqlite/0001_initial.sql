-- Jobs, one row each, in exactly one lifecycle state; the usage ledger; small key-value metadata.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    state            TEXT    NOT NULL CHECK (state IN ('awaiting_approval', 'queued', 'submitting', 'running',
                                                       'delivering', 'delivered', 'failed', 'cancelled',
                                                       'rejected')),
    request          TEXT    NOT NULL,
    job_type         TEXT    NOT NULL,
    guild_id         INTEGER,
    channel_id       INTEGER,
    user_id          INTEGER NOT NULL,
    message_id       INTEGER,
    result_message_id INTEGER,
    target_kind      TEXT    NOT NULL,
    target           TEXT    NOT NULL DEFAULT '{}',
    prodia_job_id    TEXT,
    endpoint         TEXT CHECK (endpoint IN ('async', 'sync', 'local')),
    output_path      TEXT,
    video_seconds    INTEGER NOT NULL,
    estimated_cost   REAL    NOT NULL,
    actual_cost      REAL,
    error            TEXT,
    user_error       TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL    NOT NULL,
    updated_at       REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    lease_owner      TEXT,
    lease_expires_at REAL
);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_user ON jobs (user_id, guild_id, started_at);
CREATE UNIQUE INDEX jobs_by_prodia_id ON jobs (prodia_job_id) WHERE prodia_job_id IS NOT NULL;

-- reserve when a job is accepted; exactly one of commit (delivered, or spent at Prodia) or refund once it ends.
CREATE TABLE usage_ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    guild_id      INTEGER,
    user_id       INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('reserve', 'commit', 'refund')),
    video_seconds INTEGER NOT NULL,
    dollars       REAL    NOT NULL,
    created_at    REAL    NOT NULL
);
CREATE UNIQUE INDEX usage_once_per_kind ON usage_ledger (job_id, kind);
CREATE INDEX usage_by_user ON usage_ledger (user_id, guild_id, created_at);

CREATE TRIGGER usage_settled_once BEFORE INSERT ON usage_ledger
WHEN NEW.kind IN ('commit', 'refund')
BEGIN
    SELECT RAISE(ABORT, 'usage already settled for this job')
    WHERE EXISTS (SELECT 1 FROM usage_ledger WHERE job_id = NEW.job_id AND kind IN ('commit', 'refund'));
    SELECT RAISE(ABORT, 'usage settled without a reservation')
    WHERE NOT EXISTS (SELECT 1 FROM usage_ledger WHERE job_id = NEW.job_id AND kind = 'reserve');
END;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
