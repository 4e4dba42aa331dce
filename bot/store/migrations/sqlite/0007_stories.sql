-- Stories (/story): 2 to 5 shots, each a normal job; shot k+1 waits ('waiting') for shot k's last frame.
CREATE TABLE stories (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    guild_id    INTEGER,
    channel_id  INTEGER,
    target      TEXT    NOT NULL DEFAULT '{}',
    shots       INTEGER NOT NULL CHECK (shots BETWEEN 2 AND 5),
    transition  TEXT    NOT NULL CHECK (transition IN ('cut', 'crossfade')),
    state       TEXT    NOT NULL CHECK (state IN ('running', 'delivered', 'failed', 'cancelled')),
    output_path TEXT,
    error       TEXT,
    user_error  TEXT,
    created_at  REAL    NOT NULL,
    finished_at REAL
);
ALTER TABLE jobs ADD COLUMN story_id INTEGER REFERENCES stories (id);
ALTER TABLE jobs ADD COLUMN shot_index INTEGER;
-- A new job state, 'waiting'. SQLite can't alter a CHECK constraint, and rebuilding `jobs` would cascade to
-- the ledger (foreign keys are on): widening the check in the stored schema is the documented shortcut for
-- a change that leaves every stored row valid (sqlite.org/lang_altertable.html#otheralter).
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, '''rejected'')', '''rejected'', ''waiting'')')
 WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = RESET;
-- A shot that fails is tried once more as a new job with the same index: the later row is the shot.
CREATE INDEX jobs_by_story ON jobs (story_id, shot_index, id) WHERE story_id IS NOT NULL;
