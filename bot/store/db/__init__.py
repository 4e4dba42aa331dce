"""The database: SQLite (aiosqlite, the default) or PostgreSQL (asyncpg, for several processes)."""

from bot.store.db.base import Conn, Database, Engine, Params, Row, lock_key, to_numbered
from bot.store.db.migrate import migrations, schema_version
from bot.store.db.postgres import PostgresConn, PostgresDatabase
from bot.store.db.sqlite import SQLiteConn, SQLiteDatabase

__all__ = [
    "Conn",
    "Database",
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
