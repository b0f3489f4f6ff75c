"""The ledger keeps a scan's proof of delivery and carrier window, on every back end."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from parcelstream.domain.proof import DeliveryWindow, GeoPoint, Proof, ProofFile
from parcelstream.domain.scans import ScanCode
from parcelstream.events import decode_event, scan_record
from parcelstream.storage.sqlite.state import SqliteState
from tests.contract.conftest import StateStore
from tests.contract.test_ledger import TN, Recorder, scan

SIGNATURE = ProofFile("signature", f"proof/{TN}/{'a' * 64}.png", "a" * 64, "image/png", 5120)
PHOTO = ProofFile("photo", f"proof/{TN}/{'b' * 64}.jpg", "b" * 64, "image/jpeg", 812_345)
PROOF = Proof(
    signed_by="D. Whitfield",
    files=(SIGNATURE, PHOTO),
    location=GeoPoint(33.7537, -84.3863, 8.5),
    left_at="Front door",
)


async def test_history_gives_back_proof_of_delivery_as_stored(state: StateStore) -> None:
    delivered = dataclasses.replace(scan(minute=9, code=ScanCode.DELIVERED), proof=PROOF)
    project = Recorder()
    await state.apply([scan(minute=1), delivered], [], project)

    history = await state.history(TN)
    stored = next(s for s in history if s.status_code is ScanCode.DELIVERED)
    assert stored == delivered
    assert stored.proof == PROOF
    # The projector sees it too: the public document is rendered from it.
    [(_, _, shown)] = project.calls
    assert next(s for s in shown if s.status_code is ScanCode.DELIVERED).proof == PROOF


async def test_proof_without_files_or_location_round_trips(state: StateStore) -> None:
    bare = Proof(signed_by=None, files=(), location=GeoPoint(-90.0, 180.0), left_at=None)
    delivered = dataclasses.replace(scan(code=ScanCode.DELIVERED), proof=bare)
    await state.apply([delivered], [], Recorder())
    assert (await state.history(TN))[0].proof == bare


async def test_files_under_other_keys_round_trip(state: StateStore) -> None:
    elsewhere = Proof(
        files=(
            ProofFile("photo", "carriers/ups/pod/123.jpg", "c" * 64, "image/jpeg", 10),
            ProofFile("photo", f"proof/{TN}/{'d' * 64}.webp", "d" * 64, "image/webp", 11),
            ProofFile("signature", "odd/key.png", "not-a-digest", "image/png", 12),
        )
    )
    delivered = dataclasses.replace(scan(code=ScanCode.DELIVERED), proof=elsewhere)
    await state.apply([delivered], [], Recorder())
    assert (await state.history(TN))[0].proof == elsewhere


async def test_carrier_window_is_kept_beside_the_scan(state: StateStore) -> None:
    window = DeliveryWindow(earliest=1_795_100_000_000_000, latest=1_795_128_800_000_000)
    carrier_scan = dataclasses.replace(scan(minute=3), carrier_window=window)
    await state.apply([carrier_scan, scan(minute=4)], [], Recorder())

    by_minute = {s.occurred_at: s for s in await state.history(TN)}
    assert by_minute[carrier_scan.occurred_at].carrier_window == window
    assert by_minute[carrier_scan.occurred_at].proof is None
    assert by_minute[scan(minute=4).occurred_at].carrier_window is None


async def test_a_resent_delivery_keeps_the_first_proof(state: StateStore) -> None:
    first = dataclasses.replace(scan(code=ScanCode.DELIVERED), proof=PROOF)
    other = dataclasses.replace(first, proof=Proof(signed_by="Someone else"))
    await state.apply([first, other], [], Recorder())
    await state.apply([other], [], Recorder())
    [stored] = await state.history(TN)
    assert stored.proof == PROOF


async def test_ordinary_scans_carry_no_proof_or_window(state: StateStore) -> None:
    await state.apply([scan(minute=1)], [], Recorder())
    [stored] = await state.history(TN)
    assert stored.proof is None
    assert stored.carrier_window is None


def test_event_log_record_round_trips_proof_and_carrier_window() -> None:
    window = DeliveryWindow(earliest=1, latest=2)
    delivered = dataclasses.replace(
        scan(code=ScanCode.DELIVERED), proof=PROOF, carrier_window=window
    )
    event = decode_event(scan_record(delivered).payload)
    assert event.scan == delivered  # type: ignore[union-attr]


async def test_an_embedded_state_file_from_before_proof_gains_the_column(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "state.db")
    old.execute(
        "CREATE TABLE scans (tracking_number TEXT NOT NULL, occurred_at INTEGER NOT NULL,"
        " facility_id TEXT NOT NULL, status_code TEXT NOT NULL, utc_offset INTEGER NOT NULL,"
        " exception_code TEXT, employee_id TEXT, city TEXT, region TEXT, postal_code TEXT,"
        " country TEXT, PRIMARY KEY (tracking_number, occurred_at, facility_id, status_code))"
        " WITHOUT ROWID"
    )
    old.execute(
        "INSERT INTO scans VALUES (?, 1795000000000000, 'ATL', 'IN_TRANSIT', 0,"
        " NULL, NULL, NULL, NULL, NULL, NULL)",
        (TN,),
    )
    old.commit()
    old.close()
    store = SqliteState(tmp_path / "state.db")
    try:
        delivered = dataclasses.replace(scan(minute=5, code=ScanCode.DELIVERED), proof=PROOF)
        await store.apply([delivered], [], Recorder())
        history = await store.history(TN)
        assert [s.proof for s in history] == [None, PROOF]
    finally:
        await store.close()
