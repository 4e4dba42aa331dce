"""Persistence: the SQLite database, its numbered migrations and the repositories. All SQL lives here."""
