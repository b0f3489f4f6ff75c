"""A state file made before scans had a `detail` column is upgraded in place when opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from parcelstream.domain.scans import Scan, ScanCode
from parcelstream.storage.sqlite.state import SqliteState
from tests.contract.test_ledger import Recorder

OLD_SCANS = """
CREATE TABLE scans (
    tracking_number TEXT NOT NULL, occurred_at INTEGER NOT NULL, facility_id TEXT NOT NULL,
    status_code TEXT NOT NULL, utc_offset INTEGER NOT NULL, exception_code TEXT,
    employee_id TEXT, city TEXT, region TEXT, postal_code TEXT, country TEXT,
    PRIMARY KEY (tracking_number, occurred_at, facility_id, status_code)
) WITHOUT ROWID;
INSERT INTO scans VALUES
    ('1Z5R89390357567127', 1, 'ATL-HUB-01', 'IN_TRANSIT', -300, NULL, NULL, NULL, NULL, NULL, NULL);
"""


async def test_old_state_file_gains_the_detail_column_and_keeps_its_scans(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCANS)
    conn.close()
    state = SqliteState(path)
    try:
        old = await state.history("1Z5R89390357567127")
        assert [s.detail for s in old] == [None]
        new = Scan("1Z5R89390357567127", "ups:US", 2, 0, ScanCode.PICKED_UP, detail="Origin Scan")
        await state.apply([new], [], Recorder())
        history = await state.history("1Z5R89390357567127")
        assert sorted(s.detail or "" for s in history) == ["", "Origin Scan"]
    finally:
        await state.close()
