"""What proof of delivery costs in storage: bytes per ordinary scan with and without the `extras`
column (SQLite and PostgreSQL, same run), and the size of a typical proof and carrier window.

    python bench/proof_storage.py [--scans 20000] [--postgres postgresql://postgres@127.0.0.1:5432]

Ordinary scans carry neither, so the column should cost them nothing; the figure to watch is the
target of at most 300 bytes stored per scan.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from _support import machine, tracking_numbers

from parcelstream.domain.packages import Package
from parcelstream.domain.proof import DeliveryWindow, GeoPoint, Proof, ProofFile
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.storage.ports import Projection
from parcelstream.storage.postgres.migrate import migrate
from parcelstream.storage.postgres.state import PostgresState
from parcelstream.storage.rows import encode_extras
from parcelstream.storage.sqlite.state import SqliteState

_OLD_SQLITE_SCANS = """
CREATE TABLE scans (tracking_number TEXT NOT NULL, occurred_at INTEGER NOT NULL,
    facility_id TEXT NOT NULL, status_code TEXT NOT NULL, utc_offset INTEGER NOT NULL,
    exception_code TEXT, employee_id TEXT, city TEXT, region TEXT, postal_code TEXT,
    country TEXT, PRIMARY KEY (tracking_number, occurred_at, facility_id, status_code))
    WITHOUT ROWID
"""


def ordinary_scans(count: int) -> list[Scan]:
    numbers = tracking_numbers(max(1, count // 5), random.Random(7))
    return [
        Scan(
            tracking_number=numbers[i // 5],
            facility_id="ATL-HUB-01",
            occurred_at=1_795_000_000_000_000 + i * 60_000_000,
            utc_offset=-300,
            status_code=ScanCode.ARRIVED_AT_FACILITY,
            employee_id="E1042",
            location=Location("Atlanta", "GA", "30336", "US"),
        )
        for i in range(count)
    ]


def typical_proof(tn: str) -> Proof:
    def file(kind: str, digit: str, ext: str, size: int) -> ProofFile:
        sha = digit * 64
        return ProofFile(kind, f"proof/{tn}/{sha}.{ext}", sha, f"image/{ext}", size)

    return Proof(
        signed_by="D. Whitfield",
        files=(file("signature", "a", "png", 5_120), file("photo", "b", "jpeg", 812_345)),
        location=GeoPoint(33.7537, -84.3863, 8.5),
        left_at="Front door",
    )


def project(tn: str, package: Package | None, history: list[Scan]) -> Projection:
    return Projection("IN_TRANSIT", b"{}", '"x"')


async def sqlite_bytes(scans: list[Scan], folder: Path) -> dict[str, float]:
    state = SqliteState(folder / "new.db", cache_size=10)
    await state.apply(scans, [], project)
    await state.close()
    old = sqlite3.connect(folder / "old.db")
    old.execute(_OLD_SQLITE_SCANS)
    new = sqlite3.connect(folder / "new.db")
    rows = new.execute(
        "SELECT tracking_number, occurred_at, facility_id, status_code, utc_offset,"
        " exception_code, employee_id, city, region, postal_code, country FROM scans"
    ).fetchall()
    old.executemany(f"INSERT INTO scans VALUES ({', '.join('?' * 11)})", rows)
    old.commit()

    def per_scan(conn: sqlite3.Connection) -> float:
        (size,) = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN ('scans')").fetchone()
        return round(size / len(scans), 1)

    result = {"with_extras": per_scan(new), "without_extras": per_scan(old)}
    old.close()
    new.close()
    return result


async def postgres_bytes(scans: list[Scan], server: str) -> dict[str, float]:
    admin = await asyncpg.connect(f"{server.rstrip('/')}/postgres")
    name = f"bench_proof_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.rstrip('/')}/{name}"
    try:
        conn = await asyncpg.connect(url)
        await migrate(conn)
        state = await PostgresState.connect(url)
        for start in range(0, len(scans), 5000):
            await state.apply(scans[start : start + 5000], [], project)
        await state.close()
        await conn.execute("VACUUM ANALYZE scans")
        row = await conn.fetchrow(
            "SELECT avg(pg_column_size(s.*)) AS with_extras,"
            " avg(pg_column_size(ROW(tracking_number, occurred_at, facility_id, status_code,"
            " utc_offset, exception_code, employee_id, city, region, postal_code, country)))"
            " AS without_extras FROM scans s"
        )
        heap = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'scans'::regclass"
        )
        await conn.close()
        return {
            "row_with_extras": round(float(row["with_extras"]), 1),
            "row_without_extras": round(float(row["without_extras"]), 1),
            "table_and_index_per_scan": round(float(heap) / len(scans), 1),
        }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, default=20_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    scans = ordinary_scans(args.scans)
    delivered = dataclasses.replace(
        scans[0], status_code=ScanCode.DELIVERED, proof=typical_proof(scans[0].tracking_number)
    )
    windowed = dataclasses.replace(
        scans[0], carrier_window=DeliveryWindow(1_795_100_000_000_000, 1_795_128_800_000_000)
    )
    with tempfile.TemporaryDirectory() as folder:
        sqlite = await sqlite_bytes(scans, Path(folder))
    result = {
        "machine": machine(),
        "scans": args.scans,
        "sqlite_bytes_per_scan": sqlite,
        "postgres_bytes_per_scan": await postgres_bytes(scans, args.postgres),
        "extras_bytes": {
            "ordinary_scan": len(encode_extras(scans[0]) or b""),
            "proof_signature_photo_gps_name": len(encode_extras(delivered) or b""),
            "carrier_window": len(encode_extras(windowed) or b""),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
