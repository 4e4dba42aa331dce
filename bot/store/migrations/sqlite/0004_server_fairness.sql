-- Claims go round-robin across servers, then across a server's users: the server served least recently is
-- found through its newest start. DMs (no server) count as one server; COALESCE makes that an index lookup.
CREATE INDEX jobs_by_server_start ON jobs ((COALESCE(guild_id, 0)), started_at);
-- And a member's newest start in a server, for the second level.
CREATE INDEX jobs_by_member_start ON jobs (user_id, (COALESCE(guild_id, 0)), started_at);
