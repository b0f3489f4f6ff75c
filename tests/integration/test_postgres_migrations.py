"""`parcelstream migrate`: idempotent, safe from several processes at once, and required."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from parcelstream.storage.postgres.migrate import available, migrate
from parcelstream.storage.postgres.state import PostgresState
from tests.backends.postgres import fresh_database


def _migrate_cli(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARCELSTREAM_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "parcelstream.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_concurrent_migrators_apply_each_migration_once() -> None:
    async with fresh_database(migrated=False) as url:
        results = await asyncio.gather(*(asyncio.to_thread(_migrate_cli, url) for _ in range(4)))
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        outputs = sorted(r.stdout.strip() for r in results)
        assert outputs.count("schema up to date") == 3
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r[0] for r in rows] == [v for v, _, _ in available()]
            partitions = await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'scans'::regclass"
            )
            assert partitions == 16
            assert await migrate(conn) == []
        finally:
            await conn.close()


async def test_a_store_refuses_a_database_that_was_never_migrated() -> None:
    async with fresh_database(migrated=False) as url:
        with pytest.raises(RuntimeError, match="parcelstream migrate"):
            await PostgresState.connect(url)


async def test_history_reads_newest_first_from_the_key_index() -> None:
    async with fresh_database() as url:
        conn = await asyncpg.connect(url)
        try:
            plan = await conn.fetchval(
                "EXPLAIN (FORMAT TEXT) SELECT * FROM scans WHERE tracking_number = 'x'"
                " ORDER BY occurred_at DESC"
            )
            assert "Index" in plan
        finally:
            await conn.close()
