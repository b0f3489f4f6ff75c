"""The PackageLedger / ReadModel / KeyStore contract: exact dedup, idempotent re-projection."""

from __future__ import annotations

from parcelstream.domain.packages import Address, Package
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.storage.ports import Projection
from tests.contract.conftest import StateStore

TN = "1Z5R89390357567127"
OTHER = "1Z879E930346834440"


def scan(tn: str = TN, minute: int = 0, code: ScanCode = ScanCode.IN_TRANSIT) -> Scan:
    return Scan(
        tracking_number=tn,
        facility_id="ATL-HUB-01",
        occurred_at=1_795_000_000_000_000 + minute * 60_000_000,
        utc_offset=-300,
        status_code=code,
        employee_id="E1",
        location=Location("Atlanta", "GA", "30336", "US"),
    )


class Recorder:
    """A projector that remembers what it was shown and renders something checkable."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Package | None, list[Scan]]] = []

    def __call__(
        self,
        tn: str,
        package: Package | None,
        history: list[Scan],
        estimate: bytes | None = None,
        /,
    ) -> Projection:
        self.calls.append((tn, package, history))
        body = f"{tn}:{len(history)}:{package.service_type if package else '-'}".encode()
        return Projection(status="IN_TRANSIT", document=body, etag=f'"{len(history)}"')


async def test_new_scans_are_stored_and_projected(state: StateStore) -> None:
    project = Recorder()
    applied = await state.apply([scan(minute=1), scan(minute=2), scan(OTHER)], [], project)
    assert (applied.new_scans, applied.changed_packages) == (3, 2)
    assert sorted(call[0] for call in project.calls) == [TN, OTHER]
    assert sorted(s.occurred_at for s in await state.history(TN)) == [
        scan(minute=1).occurred_at,
        scan(minute=2).occurred_at,
    ]
    document = await state.document(TN)
    assert document is not None
    assert (document.body, document.etag, document.status) == (
        b"%s:2:-" % TN.encode(),
        '"2"',
        "IN_TRANSIT",
    )


async def test_resent_scans_change_nothing(state: StateStore) -> None:
    await state.apply([scan(minute=1)], [], Recorder())
    project = Recorder()
    applied = await state.apply([scan(minute=1), scan(minute=1)], [], project)
    assert (applied.new_scans, applied.changed_packages) == (0, 0)
    assert project.calls == []
    assert len(await state.history(TN)) == 1


async def test_history_round_trips_every_field(state: StateStore) -> None:
    original = Scan(
        TN, "MEM-HUB", 1_795_000_000_123_456, 330, ScanCode.EXCEPTION, "DAMAGED", "E7", None
    )
    await state.apply([original], [], Recorder())
    assert await state.history(TN) == [original]


async def test_history_keeps_a_carriers_words_for_a_scan(state: StateStore) -> None:
    original = Scan(
        TN,
        "ups:MADISON/WI/US",
        1_795_000_000_000_000,
        -360,
        ScanCode.ARRIVED_AT_FACILITY,
        location=Location("MADISON", "WI", None, "US"),
        detail="Arrived at Facility [AR/005]",
    )
    await state.apply([original], [], Recorder())
    assert await state.history(TN) == [original]


async def test_projector_sees_master_data_and_full_history(state: StateStore) -> None:
    package = Package(
        TN, registered_at=10, service_type="GROUND", destination=Address(city="Atlanta")
    )
    await state.apply([scan(minute=1)], [], Recorder())
    project = Recorder()
    await state.apply([scan(minute=2)], [package], project)
    [(tn, seen_package, history)] = project.calls
    assert tn == TN
    assert seen_package == package
    assert len(history) == 2
    assert await state.package(TN) == package


async def test_older_registration_never_replaces_a_newer_one(state: StateStore) -> None:
    newer = Package(TN, registered_at=20, service_type="EXPRESS")
    older = Package(TN, registered_at=10, service_type="GROUND")
    await state.apply([], [newer], Recorder())
    await state.apply([], [older], Recorder())
    assert await state.package(TN) == newer


async def test_scan_for_an_unregistered_number_creates_the_package(state: StateStore) -> None:
    project = Recorder()
    await state.apply([scan(OTHER)], [], project)
    assert project.calls[0][1] is None
    assert await state.package(OTHER) is None
    assert await state.document(OTHER) is not None


async def test_unknown_document_is_none(state: StateStore) -> None:
    assert await state.document("1Z410E7W0392751591") is None


async def test_document_reflects_the_latest_change(state: StateStore) -> None:
    await state.apply([scan(minute=1)], [], Recorder())
    assert (await state.document(TN)) is not None  # now cached
    await state.apply([scan(minute=2)], [], Recorder())
    document = await state.document(TN)
    assert document is not None
    assert document.etag == '"2"'


async def test_keys_are_found_by_hash(state: StateStore) -> None:
    await state.add_key("k1", "scanner", ["scans:write"], "hash-1")
    key = await state.find_key("hash-1")
    assert key is not None
    assert key.name == "scanner"
    assert key.scopes == {"scans:write"}
    assert await state.find_key("hash-2") is None


async def test_ping_answers(state: StateStore) -> None:
    await state.ping()
