"""PostgreSQL for the tests: each test gets its own database, cloned from a template that holds
the migrated schema (migrated once per schema version, then reused)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from parcelstream.storage.ports import DocumentSink
from parcelstream.storage.postgres.migrate import available, migrate
from parcelstream.storage.postgres.notifications import PostgresNotifications
from parcelstream.storage.postgres.state import PostgresState

SERVER_URL = os.environ.get(
    "PARCELSTREAM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"
)


def database_url(name: str) -> str:
    return f"{SERVER_URL.rstrip('/')}/{name}"


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(database_url("postgres"), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is needed at {SERVER_URL} (PARCELSTREAM_TEST_POSTGRES_URL): {exc!r}"
        )


async def _template(admin: asyncpg.Connection) -> str:
    schema = hashlib.sha256("".join(sql for _, _, sql in available()).encode()).hexdigest()[:12]
    name = f"pstest_template_{schema}"
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        building = f"{name}_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{building}"')
        conn = await asyncpg.connect(database_url(building))
        try:
            await migrate(conn)
        finally:
            await conn.close()
        try:
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        except asyncpg.DuplicateDatabaseError:  # another run built it meanwhile
            await admin.execute(f'DROP DATABASE "{building}"')
    return name


async def create_database(migrated: bool = True) -> str:
    """A new database (schema applied unless `migrated=False`); its URL."""
    admin = await _admin()
    try:
        name = f"pstest_{uuid.uuid4().hex[:16]}"
        template = await _template(admin) if migrated else "template0"
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return database_url(name)
    finally:
        await admin.close()


async def drop_database(url: str) -> None:
    admin = await _admin()
    try:
        name = url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_database(migrated: bool = True) -> AsyncIterator[str]:
    """A new database for one test; dropped after."""
    url = await create_database(migrated)
    try:
        yield url
    finally:
        await drop_database(url)


@asynccontextmanager
async def postgres_state(
    tmp_path: Path, cache: DocumentSink | None = None
) -> AsyncIterator[PostgresState]:
    async with fresh_database() as url:
        state = await PostgresState.connect(url, cache)
        try:
            yield state
        finally:
            await state.close()


@asynccontextmanager
async def postgres_notifications(
    tmp_path: Path,
) -> AsyncIterator[tuple[PostgresState, PostgresNotifications]]:
    async with postgres_state(tmp_path) as state:
        yield state, PostgresNotifications(state.pool)
