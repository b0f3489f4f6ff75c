"""The embedded processor alone: scans/s from a pre-filled SQLite log to stored documents.

    python bench/processor.py [--packages 20000] [--scans-per-package 5] [--batch 5000]

No HTTP and no other work in the process, so this is the processor's own ceiling; compare it
with bench/ingest.py's end-to-end rate to see what sharing one process costs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import tracking_numbers

from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.events import scan_record
from parcelstream.pipeline.consumer import ConsumerPolicy
from parcelstream.pipeline.processor import CONSUMER_NAME, Processor
from parcelstream.storage.sqlite.log import SqliteEventLog
from parcelstream.storage.sqlite.state import SqliteState

_CODES = [
    ScanCode.PICKED_UP,
    ScanCode.ARRIVED_AT_FACILITY,
    ScanCode.DEPARTED_FACILITY,
    ScanCode.OUT_FOR_DELIVERY,
    ScanCode.DELIVERED,
]


async def run(packages: int, per_package: int, batch: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="psbench-processor-"))
    log = SqliteEventLog(folder / "log.db")
    state = SqliteState(folder / "state.db")
    numbers = tracking_numbers(packages, random.Random(1))
    location = Location("Atlanta", "GA", "30336", "US")
    # Round by round, as a network reports them: each scan changes its package once.
    records = [
        scan_record(
            Scan(tn, f"F{step}", 1_795_000_000_000_000 + step * 3_600_000_000, -300,
                 _CODES[step % len(_CODES)], None, "E1", location)
        )
        for step in range(per_package)
        for tn in numbers
    ]  # fmt: skip
    for start in range(0, len(records), 1000):
        await log.append(records[start : start + 1000])
    stop = asyncio.Event()
    processor = Processor(log, state, policy=ConsumerPolicy(batch_size=batch))
    began = time.perf_counter()
    task = asyncio.create_task(processor.run(stop))
    probe = sqlite3.connect(folder / "log.db")
    while True:
        await asyncio.sleep(0.1)
        row = probe.execute("SELECT acked FROM consumers WHERE name = ?", (CONSUMER_NAME,))
        acked = row.fetchone()
        if acked and acked[0] >= len(records):
            break
    elapsed = time.perf_counter() - began
    stop.set()
    await task
    probe.close()
    await log.close()
    await state.close()
    return len(records) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--packages", type=int, default=20_000)
    parser.add_argument("--scans-per-package", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    rate = asyncio.run(run(args.packages, args.scans_per_package, args.batch))
    total = args.packages * args.scans_per_package
    print(f"processed {total:,} scans at {rate:,.0f} scans/s (batch {args.batch})")


if __name__ == "__main__":
    main()
