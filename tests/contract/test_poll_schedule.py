"""The poll schedule store's contract, on SQLite and PostgreSQL: read-modify-write updates,
claims of due packages hidden for a lease (and never handed to two claimers), renewals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from parcelstream.domain.polling import PollState
from parcelstream.storage.ports import PollSchedule
from parcelstream.storage.postgres.polls import PostgresPolls
from parcelstream.storage.sqlite.polls import SqlitePolls
from tests.backends.postgres import fresh_database

T0 = 1_800_000_000_000_000
SECOND = 1_000_000


@pytest.fixture(params=["postgres", "sqlite"])
async def schedule(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        store = SqlitePolls(tmp_path / "state.db")
        try:
            yield store
        finally:
            await store.close()
        return
    async with fresh_database() as url:
        pg = await PostgresPolls.connect(url)
        try:
            yield pg
        finally:
            await pg.close()


def followed(tn: str, due: int | None = T0, carrier: str = "ups", **more: Any) -> PollState:
    return PollState(tn, carrier, heard_at=T0 - SECOND, due_at=due, **more)


def put(*states: PollState) -> Any:
    by_number = {s.tracking_number: s for s in states}

    def change(tn: str, current: PollState | None) -> PollState | None:
        return by_number.get(tn)

    return change


async def test_update_creates_reads_and_changes_states(schedule: PollSchedule) -> None:
    seen: list[PollState | None] = []

    def first(tn: str, current: PollState | None) -> PollState | None:
        seen.append(current)
        return followed(tn) if tn == "A" else None

    assert await schedule.update(["A", "B"], first) == 1
    assert seen == [None, None]
    assert await schedule.poll_state("B") is None

    def bump(tn: str, current: PollState | None) -> PollState | None:
        assert current is not None
        return replace(current, polls=current.polls + 1, status="OUT_FOR_DELIVERY")

    await schedule.update(["A"], bump)
    stored = await schedule.poll_state("A")
    assert stored == replace(followed("A"), polls=1, status="OUT_FOR_DELIVERY")


async def test_concurrent_updates_of_one_package_lose_nothing(schedule: PollSchedule) -> None:
    await schedule.update(["A"], put(followed("A")))

    def bump(tn: str, current: PollState | None) -> PollState | None:
        assert current is not None
        return replace(current, polls=current.polls + 1)

    await asyncio.gather(*(schedule.update(["A"], bump) for _ in range(20)))
    stored = await schedule.poll_state("A")
    assert stored is not None
    assert stored.polls == 20


async def test_claim_takes_due_packages_of_the_asked_carriers_earliest_first(
    schedule: PollSchedule,
) -> None:
    await schedule.update(
        ["A", "B", "C", "D", "E"],
        put(
            followed("A", T0 + 2),
            followed("B", T0 + 1),
            followed("C", T0 + 10 * SECOND),
            followed("D", None),
            followed("E", T0, carrier="fedex"),
        ),
    )
    claimed = await schedule.claim_due(["ups"], 10, T0 + 5, 60 * SECOND)
    assert [s.tracking_number for s in claimed] == ["B", "A"]
    assert await schedule.claim_due(["ups"], 10, T0 + 5, 60 * SECOND) == []
    assert [s.tracking_number for s in await schedule.claim_due(["fedex", "usps"], 10, T0, 1)] == [
        "E"
    ]


async def test_a_claim_comes_back_after_its_lease(schedule: PollSchedule) -> None:
    await schedule.update(["A"], put(followed("A")))
    assert len(await schedule.claim_due(["ups"], 10, T0, 60 * SECOND)) == 1
    assert await schedule.claim_due(["ups"], 10, T0 + 59 * SECOND, 60 * SECOND) == []
    assert len(await schedule.claim_due(["ups"], 10, T0 + 60 * SECOND, 60 * SECOND)) == 1


async def test_concurrent_claimers_never_share_a_package(schedule: PollSchedule) -> None:
    numbers = [f"N{i:03}" for i in range(60)]
    await schedule.update(numbers, put(*(followed(n) for n in numbers)))
    rounds = await asyncio.gather(
        *(schedule.claim_due(["ups"], 7, T0, 60 * SECOND) for _ in range(12))
    )
    claimed = [s.tracking_number for r in rounds for s in r]
    assert len(claimed) == len(set(claimed)) == 60


async def test_renewals_skip_packages_no_longer_followed(schedule: PollSchedule) -> None:
    await schedule.update(
        ["A", "B", "C", "D"],
        put(
            followed("A", renew_at=T0),
            followed("B", renew_at=T0 + 100 * SECOND),
            followed("C", None, renew_at=T0),
            followed("D", renew_at=None),
        ),
    )
    claimed = await schedule.claim_renewals("ups", 100, T0, 600 * SECOND)
    assert [s.tracking_number for s in claimed] == ["A"]
    assert await schedule.claim_renewals("ups", 100, T0, 600 * SECOND) == []
    assert [
        s.tracking_number for s in await schedule.claim_renewals("ups", 100, T0 + 100 * SECOND, 1)
    ] == ["B"]
