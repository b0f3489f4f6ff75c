"""The simulator's achieved scan rate against `parcelstream serve`.

    python bench/simulate.py [--rate 3000] [--days 7] [--packages-per-day 1500] [--json]

Generates a scenario once (not timed) and saves it, then, each into its own fresh server:
`parcelstream simulate --replay FILE --rate N` (open loop at the target) and the same scenario
`--as-fast-as-possible` (closed loop: the ceiling, measured in the same run). The simulator runs as
a separate process, as it would against a remote server. Reported: scans offered and acknowledged
per second, packages registered, the server's and the simulator's CPU over the send, and the
CPU other processes on the machine took meanwhile (a shared machine's figures need it).
With the defaults (7 days x 1,500 pickups a weekday, ~61,500 scans) the paced run takes ~20 s.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import REPO_ROOT, describe_machine, machine, machine_busy_seconds, running_server

_CLI = [sys.executable, "-m", "parcelstream.cli", "simulate"]
_SUMMARY = re.compile(
    r"packages registered ([\d,]+).*?scans sent ([\d,]+): accepted ([\d,]+), rejected ([\d,]+),"
    r" duplicates ([\d,]+)\nrequests ([\d,]+) \(retries ([\d,]+)\) in ([\d.]+) s: ([\d,]+) scans/s",
    re.S,
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(scenario: Path, pacing: list[str]) -> dict[str, Any]:
    with running_server() as server:
        server_cpu, client_cpu, wall = server.cpu_seconds(), _children_cpu(), time.perf_counter()
        busy = machine_busy_seconds()
        done = subprocess.run(
            [
                *_CLI,
                "--url",
                f"http://127.0.0.1:{server.port}",
                "--api-key",
                server.key,
                "--replay",
                str(scenario),
                *pacing,
            ],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
        wall = time.perf_counter() - wall
        busy = machine_busy_seconds() - busy
        server_cpu = server.cpu_seconds() - server_cpu
        client_cpu = _children_cpu() - client_cpu
    if done.returncode != 0:
        raise SystemExit(f"simulate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    found = _SUMMARY.search(done.stdout)
    if found is None:
        raise SystemExit(f"unexpected simulate output:\n{done.stdout}")
    numbers = [float(g.replace(",", "")) for g in found.groups()]
    packages, sent, accepted, rejected, duplicates, requests, retries, seconds, rate = numbers
    return {
        "pacing": " ".join(pacing),
        "packages": int(packages),
        "scans_sent": int(sent),
        "accepted": int(accepted),
        "rejected": int(rejected),
        "duplicates": int(duplicates),
        "requests": int(requests),
        "retries": int(retries),
        "send_seconds": seconds,
        "scans_per_second": rate,
        "server_cpu_seconds": round(server_cpu, 1),
        "simulator_cpu_seconds": round(client_cpu, 1),
        "process_wall_seconds": round(wall, 1),
        "others_cpu_seconds": round(max(0.0, busy - server_cpu - client_cpu), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=3000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--packages-per-day", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    info = machine()
    start = datetime.combine(
        datetime.now(UTC).date() - timedelta(days=args.days + 1), datetime.min.time(), UTC
    )
    with tempfile.TemporaryDirectory(prefix="parcelstream-sim-") as folder:
        scenario = Path(folder) / "scenario.jsonl"
        subprocess.run(
            [
                *_CLI,
                "--seed",
                str(args.seed),
                "--days",
                str(args.days),
                "--packages-per-day",
                str(args.packages_per_day),
                "--start",
                start.date().isoformat(),
                "--save",
                str(scenario),
            ],
            check=True,
            capture_output=True,
            cwd=REPO_ROOT,
        )
        paced = _run(scenario, ["--rate", f"{args.rate:g}"])
        ceiling = _run(scenario, ["--as-fast-as-possible"])
    result = {"machine": info, "offered": args.rate, "paced": paced, "as_fast_as_possible": ceiling}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(describe_machine(info))
    for run in (paced, ceiling):
        print(
            f"{run['pacing']:>22}: {run['scans_per_second']:,.0f} scans/s acknowledged"
            f" ({run['accepted']:,} accepted, {run['duplicates']:,} duplicates, {run['rejected']:,}"
            f" rejected; {run['packages']:,} packages) in {run['send_seconds']:.1f} s;"
            f" {run['requests']:,} requests, {run['retries']} retries; server CPU"
            f" {run['server_cpu_seconds']} s, simulator CPU {run['simulator_cpu_seconds']} s,"
            f" other processes {run['others_cpu_seconds']} s of the machine's"
            f" {info['nproc'] * run['process_wall_seconds']:.0f} s"
        )
    print(f"achieved / offered: {paced['scans_per_second'] / args.rate:.2f}")


if __name__ == "__main__":
    main()
