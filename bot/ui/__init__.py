"""What users see on Discord: embeds, persistent buttons and status messages."""
