"""The database's old import path, kept for the modules that still use it; new code imports `bot.store.db`."""

from bot.errors import DatabaseUnavailable
from bot.store.db import Conn, Database, Row, SQLiteConn, SQLiteDatabase

__all__ = ["Conn", "Database", "DatabaseUnavailable", "Row", "SQLiteConn", "SQLiteDatabase"]
