"""The DropLedger contract, on SQLite and PostgreSQL: one holder per file, leases that run out,
progress that survives, and a finished file that is never taken again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parcelstream.storage.ports import DropFile, DropLedger, DropOutcome, DropProgress
from parcelstream.storage.postgres.drops import PostgresDropLedger
from parcelstream.storage.sqlite.drops import SqliteDropLedger
from tests.backends.postgres import fresh_database

FILE = DropFile("site-1/2026-11-25.csv", "etag-1", 1234)
SECOND = 1_000_000
T0 = 1_795_000_000 * SECOND
LEASE = 60 * SECOND


@pytest.fixture(params=["postgres", "sqlite"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DropLedger]:
    if request.param == "sqlite":
        sqlite = SqliteDropLedger(tmp_path / "state.db")
        yield sqlite
        await sqlite.close()
        return
    async with fresh_database() as url:
        postgres = await PostgresDropLedger.connect(url)
        yield postgres
        await postgres.close()


def outcome(error: str | None = None) -> DropOutcome:
    return DropOutcome(
        rows=10, accepted=7, rejected=2, duplicates=1, replayed=0, sha256="ab" * 32, error=error
    )


async def test_a_new_file_is_claimed_with_the_claim_time_as_its_clock(ledger: DropLedger) -> None:
    claim = await ledger.claim(FILE, "watcher-a", T0, LEASE)
    assert claim is not None
    assert (claim.claims, claim.clock, claim.progress) == (1, T0, DropProgress())


async def test_another_watcher_waits_for_the_lease_then_resumes_where_it_stopped(
    ledger: DropLedger,
) -> None:
    assert await ledger.claim(FILE, "watcher-a", T0, LEASE)
    progress = DropProgress(rows_done=5001, appending_through=9000, accepted=4990, duplicates=10)
    assert await ledger.checkpoint(FILE, "watcher-a", progress, T0 + 2 * LEASE)
    assert await ledger.claim(FILE, "watcher-b", T0 + LEASE, LEASE) is None
    taken = await ledger.claim(FILE, "watcher-b", T0 + 2 * LEASE, LEASE)
    assert taken is not None
    assert (taken.claims, taken.clock, taken.progress) == (2, T0, progress)
    # The first holder lost it: its progress and result no longer count.
    assert not await ledger.checkpoint(FILE, "watcher-a", DropProgress(9), T0 + 9 * LEASE)
    assert not await ledger.finish(FILE, "watcher-a", outcome(), T0 + 2 * LEASE)


async def test_the_holder_may_claim_its_unfinished_file_again(ledger: DropLedger) -> None:
    assert await ledger.claim(FILE, "watcher-a", T0, LEASE)
    again = await ledger.claim(FILE, "watcher-a", T0 + SECOND, LEASE)
    assert again is not None
    assert again.claims == 2


async def test_a_finished_file_is_never_claimed_again(ledger: DropLedger) -> None:
    assert await ledger.claim(FILE, "watcher-a", T0, LEASE)
    assert await ledger.finish(FILE, "watcher-a", outcome(), T0 + SECOND)
    assert await ledger.claim(FILE, "watcher-a", T0 + 2 * SECOND, LEASE) is None
    assert await ledger.claim(FILE, "watcher-b", T0 + 99 * LEASE, LEASE) is None
    [record] = await ledger.records(FILE.key)
    assert (record.state, record.outcome, record.finished_at) == ("done", outcome(), T0 + SECOND)


async def test_a_failed_file_keeps_its_reason_and_is_not_retried(ledger: DropLedger) -> None:
    assert await ledger.claim(FILE, "watcher-a", T0, LEASE)
    assert await ledger.finish(FILE, "watcher-a", outcome("row 1: no header"), T0)
    assert await ledger.claim(FILE, "watcher-b", T0 + 9 * LEASE, LEASE) is None
    [record] = await ledger.records(FILE.key)
    assert record.state == "failed"
    assert record.outcome is not None
    assert record.outcome.error == "row 1: no header"


async def test_a_changed_file_under_the_same_key_is_a_new_file(ledger: DropLedger) -> None:
    assert await ledger.claim(FILE, "watcher-a", T0, LEASE)
    assert await ledger.finish(FILE, "watcher-a", outcome(), T0)
    changed = DropFile(FILE.key, "etag-2", 2345)
    assert await ledger.claim(changed, "watcher-a", T0 + SECOND, LEASE)
    records = await ledger.records(FILE.key)
    assert [(r.file, r.state) for r in records] == [(FILE, "done"), (changed, "ingesting")]


async def test_watchers_claiming_at_once_get_one_holder(ledger: DropLedger) -> None:
    claims = await asyncio.gather(
        *(ledger.claim(FILE, f"watcher-{n}", T0, LEASE) for n in range(8))
    )
    assert sum(claim is not None for claim in claims) == 1
