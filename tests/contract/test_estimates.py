"""Contract of the EDD store on every back end: the request outbox the ledger writes, estimates
patched into documents, estimate-changed events, and the delivered packages training reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from parcelstream.domain.estimate_stats import EtaStats
from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import PlannedDelivery, Subscription
from parcelstream.domain.packages import Address, Package
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.eta.worker import update_for
from parcelstream.pipeline.projection import project_package
from parcelstream.storage.ports import EstimateStore, EstimateUpdate, PackageLedger, ReadModel
from parcelstream.storage.postgres.estimates import PostgresEstimates
from parcelstream.storage.postgres.state import PostgresState
from parcelstream.storage.sqlite.estimates import SqliteEstimates
from parcelstream.storage.sqlite.state import SqliteState
from parcelstream.tracking.document import patch_estimate
from tests.backends.postgres import postgres_state
from tests.backends.sqlite import sqlite_state

A = "1Z5R89390357567127"
B = "1Z999AA10123456784"
T0 = int(datetime(2026, 11, 5, 9, tzinfo=UTC).timestamp()) * 1_000_000
HOUR = 3_600_000_000
SEATTLE = Address(city="Seattle", region="WA", postal_code="98101", country="US")
HUB = Location("Atlanta", "GA", "30336", "US")


def estimates_beside(state: Any) -> EstimateStore:
    if isinstance(state, SqliteState):
        return SqliteEstimates(state, poll_seconds=0.01)
    assert isinstance(state, PostgresState)
    return PostgresEstimates(state, poll_seconds=0.01)


class Edd:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.ledger: PackageLedger = state
        self.read_model: ReadModel = state
        self.store = estimates_beside(state)

    async def scan(self, tn: str, hours: float, code: ScanCode = ScanCode.IN_TRANSIT) -> None:
        at = T0 + int(hours * HOUR)
        await self.ledger.apply(
            [Scan(tn, "ATL-HUB", at, 0, code, location=HUB)], [], project_package
        )

    async def estimate_now(self, tns: list[str], now: int) -> list[EstimateUpdate]:
        items = await self.store.inputs(tns)
        return [update_for(item, EtaStats(), now) for item in items]

    async def document(self, tn: str) -> dict[str, Any]:
        found = await self.read_model.document(tn)
        assert found is not None
        parsed: dict[str, Any] = json.loads(found.body)
        return parsed


@pytest.fixture(params=["sqlite", "postgres"])
async def edd(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Edd]:
    opener = sqlite_state if request.param == "sqlite" else postgres_state
    async with opener(tmp_path) as state:
        yield Edd(state)


async def test_each_changed_package_gets_one_edd_request(edd: Edd) -> None:
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    await edd.scan(A, 1)
    await edd.scan(B, 0, ScanCode.PICKED_UP)
    requests = edd.store.requests()
    fetched = await requests.fetch(100, 0.5)
    assert sorted(d.payload.decode() for d in fetched) == [A, B]
    assert await requests.fetch(100, 0.05) == []  # claimed: hidden from other workers
    await requests.ack(fetched)
    await requests.close()


async def test_a_request_acknowledged_after_a_newer_change_stays(edd: Edd) -> None:
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    requests = edd.store.requests()
    first = await requests.fetch(100, 0.5)
    await edd.scan(A, 1)  # a change while the worker held the request
    await requests.ack(first)
    again = await requests.fetch(100, 0.5)
    assert [d.payload.decode() for d in again] == [A]
    await requests.ack(again)
    assert await requests.fetch(100, 0.05) == []


async def test_a_request_that_can_never_be_done_is_parked(edd: Edd) -> None:
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    requests = edd.store.requests()
    (only,) = await requests.fetch(100, 0.5)
    await requests.dead_letter(only, "poison")
    assert await requests.fetch(100, 0.05) == []


async def test_a_saved_estimate_is_patched_into_the_document_and_survives_a_re_render(
    edd: Edd,
) -> None:
    await edd.ledger.apply(
        [], [Package(A, T0 - HOUR, service_type="NEXT_DAY", destination=SEATTLE)], project_package
    )
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    before = await edd.read_model.document(A)
    await edd.store.save(await edd.estimate_now([A], T0 + HOUR), patch_estimate)

    after = await edd.read_model.document(A)
    assert before is not None
    assert after is not None
    assert after.etag != before.etag
    shown = json.loads(after.body)["estimated_delivery"]
    assert shown["source"] == "service_level"
    assert shown["time_zone"] == "America/Los_Angeles"
    assert shown["earliest"].endswith("-08:00")
    assert shown["original"]["date"] == shown["date"]
    record = await edd.store.estimate(A)
    assert record is not None
    assert record.latest.date == shown["date"]

    await edd.scan(A, 2)  # the processor renders the document again
    document = await edd.document(A)
    assert len(document["events"]) == 2
    assert document["estimated_delivery"] == shown


async def test_an_estimate_made_from_an_older_document_is_dropped(edd: Edd) -> None:
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    stale = await edd.estimate_now([A], T0 + HOUR)
    await edd.scan(A, 1)
    await edd.store.save(stale, patch_estimate)
    assert (await edd.document(A))["estimated_delivery"] is None
    assert await edd.store.estimate(A) is None


async def test_a_delivered_package_shows_no_estimate_and_joins_the_training_set(edd: Edd) -> None:
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    await edd.store.save(await edd.estimate_now([A], T0 + HOUR), patch_estimate)
    assert (await edd.document(A))["estimated_delivery"] is not None
    await edd.scan(A, 30, ScanCode.DELIVERED)
    assert (await edd.document(A))["estimated_delivery"] is None
    (update,) = await edd.estimate_now([A], T0 + 31 * HOUR)
    assert update.record is None
    assert update.delivered_at == T0 + 30 * HOUR
    await edd.store.save([update], patch_estimate)
    assert (await edd.document(A))["estimated_delivery"] is None
    found = [chunk async for chunk in edd.store.delivered(T0, T0 + 40 * HOUR, 10)]
    assert [[h[-1].status_code for _, h in chunk] for chunk in found] == [[ScanCode.DELIVERED]]


async def test_training_reads_deliveries_in_the_range_a_batch_at_a_time(edd: Edd) -> None:
    numbers = [f"1Z5R8939035756{n:04d}" for n in range(5)]
    for n, tn in enumerate(numbers):
        await edd.ledger.apply(
            [Scan(tn, "SEA-DS", T0 + n * HOUR, 0, ScanCode.DELIVERED)], [], project_package
        )
    updates = [
        EstimateUpdate(tn, None, None, delivered_at=T0 + n * HOUR) for n, tn in enumerate(numbers)
    ]
    await edd.store.save(updates, patch_estimate)
    chunks = [c async for c in edd.store.delivered(T0 + HOUR, T0 + 4 * HOUR, 2)]
    assert [len(c) for c in chunks] == [2, 1]
    assert [h[0].tracking_number for c in chunks for _, h in c] == numbers[1:4]


@pytest.fixture(params=["sqlite", "postgres"])
async def with_outbox(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Edd, Any]]:
    from tests.backends.postgres import postgres_notifications
    from tests.backends.sqlite import sqlite_notifications

    opener = sqlite_notifications if request.param == "sqlite" else postgres_notifications
    async with opener(tmp_path) as (state, queue):
        yield Edd(state), queue


async def test_a_moved_date_is_an_estimate_changed_occurrence_in_the_milestone_outbox(
    with_outbox: tuple[Edd, Any],
) -> None:
    edd, queue = with_outbox
    await edd.ledger.apply(
        [], [Package(A, T0 - HOUR, service_type="NEXT_DAY", destination=SEATTLE)], project_package
    )
    await edd.scan(A, 0, ScanCode.PICKED_UP)
    await edd.store.save(await edd.estimate_now([A], T0 + HOUR), patch_estimate)
    first = await edd.store.estimate(A)
    assert first is not None
    # three days later with no news the promise has passed: the date moves
    await edd.scan(A, 70, ScanCode.EXCEPTION)
    (moved,) = await edd.estimate_now([A], T0 + 100 * HOUR)
    assert moved.changed is not None
    await edd.store.save([moved], patch_estimate)

    seen: list[Occurrence] = []

    def plan(
        occurrence: Occurrence,
        package: Package | None,
        subscriptions: list[Subscription],
        opted_out: frozenset[tuple[str, str]],
    ) -> list[PlannedDelivery]:
        seen.append(occurrence)
        return []

    await queue.dispatch(100, plan, T0 + 100 * HOUR)
    changed = [o for o in seen if o.milestone == "ESTIMATE_CHANGED"]
    assert [(o.number, o.detail) for o in changed] == [(1, moved.record.latest.date)]  # type: ignore[union-attr]
    assert first.latest.date != moved.record.latest.date  # type: ignore[union-attr]
