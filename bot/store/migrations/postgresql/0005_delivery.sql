-- Where a job's clip was posted, stored the moment Discord answers, so a delivery re-run after an outage
-- finds it instead of posting twice (a nonce only protects for a few minutes). result_channel_id is NULL for
-- an ephemeral followup, which no channel can read back.
ALTER TABLE jobs ADD COLUMN result_channel_id BIGINT;
-- Set just before the first upload: a re-run that finds it without a result message looks in the channel.
ALTER TABLE jobs ADD COLUMN delivery_started_at DOUBLE PRECISION;
-- The Delete button under a posted clip: /show does not bring it back.
ALTER TABLE jobs ADD COLUMN clip_removed_by BIGINT;
ALTER TABLE jobs ADD COLUMN clip_removed_at DOUBLE PRECISION;
