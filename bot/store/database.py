"""The database's old import path, kept for the modules that still use it; new code imports `bot.store.db`."""

from bot.errors import DatabaseBusy, DatabaseError, DatabaseUnavailable
from bot.store.db import (
    Conn,
    Database,
    Engine,
    Params,
    PostgresConn,
    PostgresDatabase,
    Row,
    SQLiteConn,
    SQLiteDatabase,
    lock_key,
    migrations,
    schema_version,
    to_numbered,
)

__all__ = [
    "Conn",
    "Database",
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseUnavailable",
    "Engine",
    "Params",
    "PostgresConn",
    "PostgresDatabase",
    "Row",
    "SQLiteConn",
    "SQLiteDatabase",
    "lock_key",
    "migrations",
    "schema_version",
    "to_numbered",
]
