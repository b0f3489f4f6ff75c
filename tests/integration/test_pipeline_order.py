"""Through the real ledger and projection: any arrival order, in any batches, with redelivered
batches, ends in the same stored document, byte for byte."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.pipeline.projection import project_package
from parcelstream.storage.sqlite.state import SqliteState

NUMBERS = ["1Z5R89390357567127", "1Z879E930346834440"]
MINUTE = 60_000_000

_scans = st.builds(
    lambda tn, code, minute, facility: Scan(
        tracking_number=tn,
        facility_id=facility,
        occurred_at=1_795_000_000_000_000 + minute * MINUTE,
        utc_offset=-300,
        status_code=code,
        exception_code="DAMAGED" if code is ScanCode.EXCEPTION else None,
        location=Location(city=facility.split("-")[0]),
    ),
    st.sampled_from(NUMBERS),
    st.sampled_from(list(ScanCode)),
    st.integers(0, 3000),
    st.sampled_from(["ATL-HUB", "MEM-HUB", "DFW-DS"]),
)


async def _documents(batches: list[list[Scan]]) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        state = SqliteState(Path(folder) / "state.db", cache_size=0)
        try:
            for batch in batches:
                await state.apply(batch, [], project_package)
            stored = {tn: await state.document(tn) for tn in NUMBERS}
        finally:
            await state.close()
    return {tn: doc.body for tn, doc in stored.items() if doc is not None}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scans=st.lists(_scans, min_size=1, max_size=30, unique_by=lambda s: s.dedup_key), data=st.data()
)
def test_arrival_order_and_batching_never_change_the_document(
    scans: list[Scan], data: st.DataObject
) -> None:
    in_order = [sorted(scans, key=lambda s: s.occurred_at)]
    shuffled = data.draw(st.permutations(scans))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(scans)), max_size=5)))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(scans)], strict=True)]
    redelivered = data.draw(st.lists(st.sampled_from(batches), max_size=2))

    assert asyncio.run(_documents(batches + redelivered)) == asyncio.run(_documents(in_order))
