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
