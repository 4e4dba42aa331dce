-- Money and quota settle separately: a job Prodia was paid for commits its dollars even when it then fails,
-- and its settlement row says whether the member's quota (jobs per hour, seconds per day) was given back.
-- A refund always gave it back.
ALTER TABLE usage_ledger ADD COLUMN quota_returned INTEGER NOT NULL DEFAULT 0;
UPDATE usage_ledger SET quota_returned = 1 WHERE kind = 'refund';
