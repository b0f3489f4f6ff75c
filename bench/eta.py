"""The embedded processor's scans/s with estimated delivery off and on, alternated in one run.

    python bench/eta.py [--packages 20000] [--scans-per-package 5] [--rounds 3] [--json]

Three shapes, each from the same pre-filled SQLite log into a fresh state file:
- off: the processor alone, writing no EDD requests (PARCELSTREAM_ETA_ENABLED=false);
- requests: the processor writing an EDD request per changed package and carrying stored
  estimates into its documents (what EDD adds to the processor's own transaction);
- worker: as `parcelstream serve` runs it: the processor and the EDD worker in one process, the
  worker estimating and patching documents while the processor runs, limited to
  PARCELSTREAM_ETA_SERVE_SHARE of the process's time.
Shapes alternate, each round starting with the next one, so the shared machine's noise hits them
alike; besides records/s (wall clock) each run reports records per CPU-second of the whole
process (all its threads), which other processes on the machine disturb far less. In one process
the processor and the worker share one interpreter lock, so CPU per record is what decides
throughput when the machine is not shared. The median of each is compared with that of "off".
The worker's shape also reports how many estimates it had made when the processor finished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import tracking_numbers

from parcelstream.domain.packages import Address, Package
from parcelstream.domain.scans import Location, Scan, ScanCode
from parcelstream.eta.stats import StatsCache
from parcelstream.eta.worker import EtaWorker
from parcelstream.events import package_record, scan_record
from parcelstream.pipeline.consumer import ConsumerPolicy
from parcelstream.pipeline.processor import CONSUMER_NAME, Processor
from parcelstream.settings import Settings
from parcelstream.storage.ports import LogRecord
from parcelstream.storage.sqlite.estimates import SqliteEstimates
from parcelstream.storage.sqlite.log import SqliteEventLog
from parcelstream.storage.sqlite.state import SqliteState

_CODES = [
    ScanCode.PICKED_UP,
    ScanCode.ARRIVED_AT_FACILITY,
    ScanCode.DEPARTED_FACILITY,
    ScanCode.OUT_FOR_DELIVERY,
    ScanCode.DELIVERED,
]
SHAPES = ("off", "requests", "worker")


def records(packages: int, per_package: int) -> list[LogRecord]:
    numbers = tracking_numbers(packages, random.Random(1))
    location = Location("Atlanta", "GA", "30336", "US")
    destination = Address(city="Seattle", region="WA", postal_code="98101", country="US")
    start = 1_795_000_000_000_000
    registered = [
        package_record(Package(tn, start - 3_600_000_000, "ups", "GROUND", destination=destination))
        for tn in numbers
    ]
    # Round by round, as a network reports them: each scan changes its package once.
    scans = [
        scan_record(
            Scan(tn, f"F{step}", start + step * 3_600_000_000, -300,
                 _CODES[step % len(_CODES)], None, "E1", location)
        )
        for step in range(per_package)
        for tn in numbers
    ]  # fmt: skip
    return registered + scans


async def run(shape: str, log_records: list[LogRecord], batch: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"psbench-eta-{shape}-"))
    log = SqliteEventLog(folder / "log.db")
    state = SqliteState(folder / "state.db", eta_requests=shape != "off")
    for start in range(0, len(log_records), 1000):
        await log.append(log_records[start : start + 1000])
    stop = asyncio.Event()
    worker_stop = asyncio.Event()
    processor = Processor(log, state, policy=ConsumerPolicy(batch_size=batch))
    jobs = []
    estimates = SqliteEstimates(state)
    if shape == "worker":
        settings = Settings()
        worker = EtaWorker(
            estimates,
            StatsCache(estimates, refresh_seconds=3600),
            policy=ConsumerPolicy(batch_size=settings.eta_batch_size),
            share=settings.eta_serve_share,
        )
        jobs.append(asyncio.create_task(worker.run(worker_stop)))
    began = time.perf_counter()
    cpu_began = time.process_time()
    jobs.append(asyncio.create_task(processor.run(stop)))
    probe = sqlite3.connect(folder / "log.db")
    while True:
        await asyncio.sleep(0.05)
        row = probe.execute("SELECT acked FROM consumers WHERE name = ?", (CONSUMER_NAME,))
        acked = row.fetchone()
        if acked and acked[0] >= len(log_records):
            break
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    stop.set()
    worker_stop.set()
    await asyncio.gather(*jobs)
    state_probe = sqlite3.connect(folder / "state.db")
    estimated = state_probe.execute("SELECT count(*) FROM estimates").fetchone()[0]
    pending = state_probe.execute("SELECT count(*) FROM eta_requests").fetchone()[0]
    state_probe.close()
    probe.close()
    await log.close()
    await state.close()
    shutil.rmtree(folder)
    return {
        "shape": shape,
        "scans_per_s": round(len(log_records) / elapsed),
        "scans_per_cpu_s": round(len(log_records) / cpu),
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu, 2),
        "packages_estimated": estimated,
        "requests_left": pending,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--packages", type=int, default=20_000)
    parser.add_argument("--scans-per-package", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    log_records = records(args.packages, args.scans_per_package)
    runs = []
    for round_ in range(args.rounds):
        # Each round starts with another shape, so a position in the round favours none.
        for shape in SHAPES[round_ % 3 :] + SHAPES[: round_ % 3]:
            result = asyncio.run(run(shape, log_records, args.batch))
            runs.append(result)
            if not args.json:
                print(
                    f"{shape:<9} {result['scans_per_s']:>8,} records/s"
                    f" {result['scans_per_cpu_s']:>8,} records/CPU-s"
                    f"  ({result['seconds']} s, {result['cpu_seconds']} CPU-s,"
                    f" {result['packages_estimated']} estimated,"
                    f" {result['requests_left']} requests left)"
                )
    medians = {
        measure: {
            shape: statistics.median(r[measure] for r in runs if r["shape"] == shape)
            for shape in SHAPES
        }
        for measure in ("scans_per_s", "scans_per_cpu_s")
    }
    summary = {
        "records": len(log_records),
        "median": medians,
        "drop_vs_off": {
            measure: {s: round(1 - m[s] / m["off"], 4) for s in SHAPES[1:]}
            for measure, m in medians.items()
        },
        "runs": runs,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for measure, unit in (("scans_per_s", "records/s"), ("scans_per_cpu_s", "records/CPU-s")):
        m = medians[measure]
        for shape in SHAPES[1:]:
            drop = summary["drop_vs_off"][measure][shape]
            print(
                f"{shape}: median {m[shape]:,.0f} vs off {m['off']:,.0f} {unit}: {drop:+.1%} drop"
            )


if __name__ == "__main__":
    main()
