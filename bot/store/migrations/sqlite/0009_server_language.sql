-- The language of the server's posts (a Discord locale the bot speaks; NULL: the server's own, guild_locale).
ALTER TABLE guild_settings ADD COLUMN language TEXT;
