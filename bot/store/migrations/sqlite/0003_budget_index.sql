-- The server budget sums today's reservations of one server; without this it scanned the whole ledger.
CREATE INDEX usage_by_guild ON usage_ledger (guild_id, created_at);
