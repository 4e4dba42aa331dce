-- /story on Discord. A member's most shots in one story is a limit like the others.
ALTER TABLE limit_rules ADD COLUMN story_shots INTEGER;
-- Re-roll a shot and Extend make a new story that reuses the shots before `first_shot` of the story it is
-- `based_on` (their jobs and clips stay that story's).
ALTER TABLE stories ADD COLUMN based_on INTEGER REFERENCES stories (id);
ALTER TABLE stories ADD COLUMN first_shot INTEGER NOT NULL DEFAULT 0;
-- The story's status message (the interaction's reply) and its posted clip, found again after a restart.
ALTER TABLE stories ADD COLUMN status_message_id INTEGER;
ALTER TABLE stories ADD COLUMN result_message_id INTEGER;
ALTER TABLE stories ADD COLUMN result_channel_id INTEGER;
-- Ending a story (joining and posting its shots) is claimed first, by one process: 'stopping' until
-- `stop_until`, after which recovery may take it over (the process died); `stop_owner` names the claim.
ALTER TABLE stories ADD COLUMN stop_until REAL;
ALTER TABLE stories ADD COLUMN stop_owner TEXT;
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, '''cancelled''))', '''cancelled'', ''stopping''))')
 WHERE type = 'table' AND name = 'stories';
PRAGMA writable_schema = RESET;
-- A shot's target names its story's output, so `sora-bot story` and the bot never run each other's shots.
UPDATE jobs SET target_kind = 'story:file', target = '{"kind": "story:file"}' WHERE target_kind = 'story';
-- Stories a member's Re-roll or Extend made from this one, found when another is pressed.
CREATE INDEX stories_by_base ON stories (based_on) WHERE based_on IS NOT NULL;
