"""Versioned schema migrations: numbered SQL files applied in order, each once, under a lock.

Safe to run from several processes at once: an advisory lock lets one apply while the others
wait, and then find nothing left to do.
"""

from __future__ import annotations

import logging
from importlib import resources

from parcelstream.storage.postgres.connection import Connection

log = logging.getLogger(__name__)

_LOCK_KEY = 0x70617263656C  # "parcel": any constant shared by every migrator
_PACKAGE = "parcelstream.storage.postgres"


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped, in order."""
    folder = resources.files(_PACKAGE) / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append((int(number), name, entry.read_text()))
    return sorted(found)


async def migrate(conn: Connection) -> list[str]:
    """Apply what is missing; returns the names applied (empty when up to date)."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in available():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("applied migration %04d %s", version, name)
            applied_now.append(f"{version:04d}_{name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def pending(conn: Connection) -> list[str]:
    """Migrations not yet applied (all of them on an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = (
        {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        if exists
        else set()
    )
    return [f"{v:04d}_{n}" for v, n, _ in available() if v not in done]
