"""Two processors updating the same packages at once: updates serialize per package, nothing is
written twice and no document goes backwards."""

from __future__ import annotations

import asyncio

from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.pipeline.projection import project_package
from parcelstream.storage.postgres.state import PostgresState
from tests.backends.postgres import fresh_database

NUMBERS = ["1Z5R89390357567127", "1Z879E930346834440", "1Z410E7W0392751591"]
CODES = [
    ScanCode.PICKED_UP,
    ScanCode.ARRIVED_AT_FACILITY,
    ScanCode.DEPARTED_FACILITY,
    ScanCode.OUT_FOR_DELIVERY,
    ScanCode.DELIVERED,
]


def scan(tn: str, step: int, facility: str) -> Scan:
    return Scan(
        tracking_number=tn,
        facility_id=facility,
        occurred_at=1_795_000_000_000_000 + step * 3_600_000_000,
        utc_offset=0,
        status_code=CODES[step % len(CODES)],
        location=Location(city="Atlanta"),
    )


async def test_concurrent_batches_on_the_same_packages_serialize() -> None:
    async with fresh_database() as url:
        first, second = await PostgresState.connect(url), await PostgresState.connect(url)
        try:
            # Every batch touches every package, in opposite orders: the worst case for locks.
            batches = [
                [scan(tn, step, f"F{worker}") for tn in NUMBERS for step in range(5)]
                for worker in range(8)
            ]
            stores = [first, second] * 4
            for batch in batches[1::2]:
                batch.reverse()
            await asyncio.gather(
                *(s.apply(b, [], project_package) for s, b in zip(stores, batches, strict=True)),
                # the same scans again from the other store: resends racing the originals
                *(
                    s.apply(b, [], project_package)
                    for s, b in zip(stores[::-1], batches, strict=True)
                ),
            )
            for tn in NUMBERS:
                assert len(await first.history(tn)) == 8 * 5
                versioned = await first.versioned_document(tn)
                assert versioned is not None
                assert versioned.document.status == "DELIVERED"
                # One version per apply that changed the package: at most 8, never lost updates.
                assert 1 <= versioned.version <= 8
                expected = project_package(tn, None, await first.history(tn))
                assert versioned.document.body == expected.document
        finally:
            await first.close()
            await second.close()
