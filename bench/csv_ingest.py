"""CSV ingest benchmark: `parcelstream ingest FILE.csv` on a 100,000-row and a 1,000,000-row file,
each in its own process, reporting rows/s and that process's peak RSS. Bounded memory means the
two peaks come out about the same; the ratio is quoted against the smaller file in the same run.

Each file is realistic facility output: 5 scans per package (valid UPS numbers), city-level
location columns, 1 row in 1,000 invalid. Each size gets a fresh data folder (embedded event log).
Run from the repo root (about a minute and a half):

    python bench/csv_ingest.py                     # 100,000 and 1,000,000 rows
    python bench/csv_ingest.py --rows 20000 200000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import cli_command, describe_machine, machine, tracking_numbers

CODES = [
    "PICKED_UP",
    "ARRIVED_AT_FACILITY",
    "PROCESSED_AT_FACILITY",
    "DEPARTED_FACILITY",
    "IN_TRANSIT",
]
HEADER = (
    "tracking_number,facility_id,timestamp,status_code,employee_id,"
    "city,region,postal_code,country\n"
)


def write_file(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    numbers = tracking_numbers(rows // 5 + 1, rng)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            number = numbers[n // 5]
            moment = (start + timedelta(seconds=n // 5 * 7 + (n % 5) * 3600)).isoformat()
            if n % 1000 == 999:
                number = "1Z999"  # invalid: exercises the rejects file
            out.write(
                f"{number},ATL-HUB-{n % 13:02d},{moment},{CODES[n % 5]},E{n % 977},"
                "Atlanta,GA,30336,US\n"
            )


def ingest(path: Path, data: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELSTREAM_")}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*cli_command(), "ingest", str(path), "--data", str(data)],
            stdout=out,
            stderr=err,
            env=env,
        )
        # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN is the max over all children).
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit(f"ingest failed ({code}):\n{err.read().decode()}")
        result = json.loads(out.read())
    return {
        "rows": result["rows"],
        "accepted": result["accepted"],
        "rejected": result["rejected"],
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(result["rows"] / elapsed),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="ps-csv-bench-") as folder:
        for rows in args.rows:
            path = Path(folder) / f"facility-{rows}.csv"
            write_file(path, rows, seed=rows)
            results.append(ingest(path, Path(folder) / f"data-{rows}"))
            path.unlink()
    base = results[0]["peak_rss_mb"]
    for result in results:
        result["peak_rss_vs_first"] = round(result["peak_rss_mb"] / base, 2)
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=2))
        return
    print(describe_machine(info))
    print(
        f"{'rows':>10} {'MB':>7} {'seconds':>8} {'rows/s':>8} {'peak RSS MB':>12} {'vs first':>9}"
    )
    for r in results:
        print(
            f"{r['rows']:>10,} {r['file_mb']:>7} {r['seconds']:>8} {r['rows_per_s']:>8,}"
            f" {r['peak_rss_mb']:>12} {r['peak_rss_vs_first']:>9}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
