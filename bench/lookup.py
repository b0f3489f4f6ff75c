"""Lookup benchmark: GET /v1/track/{tracking_number} against GET /healthz, in the same run.

It starts its own `parcelstream serve` (temporary data folder, free port), loads K packages with a
few scans each through POST /v1/scans and waits until every one is visible. Then it runs a
closed-loop load (C keep-alive connections, each sending its next request as soon as the previous
answer is in) against (a) lookups of random known tracking numbers and (b) /healthz, a route that
does no work, on the same server. The time is cut into segments run in the order
L H H L L H H L ... so that noise on this shared machine hits both; a short warm-up of each is
discarded. It reports requests/s and p50/p90/p99/max latency of each, the ratio lookups/s ÷
healthz/s (target >= 0.70; lookup p99 target < 20 ms; also per adjacent segment pair, whose median
is the least noisy figure), the server's CPU time per request, and how much CPU the server and the
load generator used, to show which one was the bottleneck. With --ingest-rate R it also posts new
scans at R scans/s in the background, so the processor competes with the lookups.

Load generator: `wrk` when it is on PATH (Debian: `apt-get install -y wrk`), with a Lua script
that picks a random path per request and dumps its latency histogram; otherwise a lean Python
client (raw HTTP/1.1 over asyncio streams, uvloop if installed, in --workers processes). The
output says which was used.

Run from the repo root (about 30 s with the defaults):

    python bench/lookup.py                      # 10,000 packages, 32 connections, 10 s each
    python bench/lookup.py --ingest-rate 2000   # the same while 2,000 scans/s come in
    python bench/lookup.py --generator python --json
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from _support import (
    HOST,
    HttpConnection,
    Server,
    describe_machine,
    machine,
    running_server,
    scan_batches,
    scan_rounds,
    tracking_numbers,
)
from ingest import post_all, verify_all, wait_visible

TARGETS = ("lookup", "healthz")

# --- results -----------------------------------------------------------------------------------


@dataclass
class Segment:
    """One closed-loop run against one target: a latency histogram in whole microseconds."""

    target: str
    requests: int
    seconds: float
    errors: int
    histogram: Counter[int]
    server_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0


@dataclass
class Totals:
    segments: list[Segment] = field(default_factory=list)

    def add(self, segment: Segment) -> None:
        self.segments.append(segment)

    def summary(self) -> dict[str, Any]:
        requests = sum(s.requests for s in self.segments)
        seconds = sum(s.seconds for s in self.segments)
        histogram: Counter[int] = Counter()
        for s in self.segments:
            histogram.update(s.histogram)
        return {
            "requests": requests,
            "seconds": round(seconds, 3),
            "requests_per_s": round(requests / seconds, 1) if seconds else 0.0,
            "errors": sum(s.errors for s in self.segments),
            **histogram_ms(histogram),
            "server_cpu_per_s": round(sum(s.server_cpu_s for s in self.segments) / seconds, 3),
            "server_cpu_us_per_request": round(
                sum(s.server_cpu_s for s in self.segments) / requests * 1e6, 1
            )
            if requests
            else 0.0,
            "generator_cpu_per_s": round(
                sum(s.generator_cpu_s for s in self.segments) / seconds, 3
            ),
            "segment_requests_per_s": [round(s.requests / s.seconds) for s in self.segments],
            "segment_max_ms": [max(s.histogram, default=0) / 1000 for s in self.segments],
        }


def histogram_ms(histogram: Counter[int]) -> dict[str, float]:
    """p50/p90/p99/max/mean (ms) of a {microseconds: count} histogram, nearest rank."""
    total = sum(histogram.values())
    if not total:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "mean_ms": 0.0}
    wanted = {p: max(1, math.ceil(p / 100 * total)) for p in (50, 90, 99)}
    found: dict[int, int] = {}
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        for p, rank in wanted.items():
            if p not in found and seen >= rank:
                found[p] = value
    mean = sum(v * c for v, c in histogram.items()) / total
    return {
        "p50_ms": found[50] / 1000,
        "p90_ms": found[90] / 1000,
        "p99_ms": found[99] / 1000,
        "max_ms": max(histogram) / 1000,
        "mean_ms": round(mean / 1000, 3),
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- generator (a): wrk ------------------------------------------------------------------------

_WRK_SCRIPT = """
local paths_file = os.getenv("BENCH_PATHS")
local requests = {}
local threads = 0

setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end

init = function(args)
  for line in io.lines(paths_file) do
    requests[#requests + 1] = wrk.format("GET", line)
  end
  math.randomseed(os.time() * 100 + id)
end

request = function()
  return requests[math.random(#requests)]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d errors=%d status_errors=%d\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
  for i = 1, #latency do
    local value, count = latency(i)
    io.write(string.format("BENCH_H %d %d\\n", value, count))
  end
end
"""


class WrkGenerator:
    name = "wrk"

    def __init__(self, port: int, connections: int, threads: int, workdir: Path) -> None:
        self._port = port
        self._connections = connections
        self._threads = threads
        self._script = workdir / "paths.lua"
        self._script.write_text(_WRK_SCRIPT)
        self._workdir = workdir
        self.version = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0:1]

    def describe(self) -> str:
        version = self.version[0].split(" Copyright")[0] if self.version else "wrk"
        return f"{version}, {self._threads} thread(s), {self._connections} connections"

    def run(self, target: str, paths: Sequence[str], seconds: float, server: Server) -> Segment:
        paths_file = self._workdir / f"{target}.paths"
        if not paths_file.exists():
            paths_file.write_text("\n".join(paths) + "\n")
        command = [
            "wrk",
            f"-t{self._threads}",
            f"-c{self._connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(self._script),
            f"http://{HOST}:{self._port}",
        ]
        cpu0, gen0 = server.cpu_seconds(), children_cpu()
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            env={"BENCH_PATHS": str(paths_file), "PATH": "/usr/bin:/bin"},
        )
        cpu1, gen1 = server.cpu_seconds(), children_cpu()
        if done.returncode != 0 or "BENCH requests=" not in done.stdout:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
        histogram: Counter[int] = Counter()
        fields: dict[str, int] = {}
        for line in done.stdout.splitlines():
            if line.startswith("BENCH_H "):
                _, value, count = line.split()
                histogram[int(float(value))] += int(float(count))
            elif line.startswith("BENCH "):
                fields = {k: int(v) for k, v in (p.split("=") for p in line.split()[1:])}
        return Segment(
            target,
            fields["requests"],
            fields["duration_us"] / 1e6,
            fields["errors"] + fields["status_errors"],
            histogram,
            cpu1 - cpu0,
            gen1 - gen0,
        )

    def close(self) -> None:
        pass


# --- generator (b): lean Python client -----------------------------------------------------------


def _python_worker(
    port: int, paths: Sequence[str], connections: int, start_at: float, seconds: float
) -> tuple[int, int, float, bytes, float]:
    """Runs in a worker process: (requests, errors, seconds, latencies us as array('I'), CPU)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cpu0 = self_cpu()
    result = asyncio.run(_python_load(port, paths, connections, start_at, seconds))
    return (*result, self_cpu() - cpu0)


async def _python_load(
    port: int, paths: Sequence[str], connections: int, start_at: float, seconds: float
) -> tuple[int, int, float, bytes]:
    conns = [HttpConnection(HOST, port) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))
    requests = [conns[0].get_request(p) for p in paths]
    latencies = array.array("I")
    errors = 0
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    stop_at = start_at + seconds
    clock = time.perf_counter_ns
    pick = random.Random().choice

    async def loop(conn: HttpConnection) -> None:
        nonlocal errors
        while time.monotonic() < stop_at:
            sent = clock()
            try:
                status, _ = await conn.send(pick(requests))
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                await conn.close()
                continue
            latencies.append((clock() - sent) // 1000)
            if status != 200:
                errors += 1

    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.monotonic() - start_at
    await asyncio.gather(*(c.close() for c in conns))
    return len(latencies), errors, elapsed, latencies.tobytes()


class PythonGenerator:
    name = "python"

    def __init__(self, port: int, connections: int, workers: int) -> None:
        self._port = port
        self._connections = connections
        self._workers = max(1, min(workers, connections))
        self._pool = ProcessPoolExecutor(self._workers, mp_context=get_context("fork"))

    def describe(self) -> str:
        try:
            import uvloop  # noqa: F401

            loop = "uvloop"
        except ImportError:
            loop = "asyncio"
        return (
            f"python raw HTTP/1.1 client ({loop}), {self._workers} process(es),"
            f" {self._connections} connections"
        )

    def run(self, target: str, paths: Sequence[str], seconds: float, server: Server) -> Segment:
        share = [self._connections // self._workers] * self._workers
        for i in range(self._connections % self._workers):
            share[i] += 1
        start_at = time.monotonic() + 0.3
        cpu0 = server.cpu_seconds()
        futures = [
            self._pool.submit(_python_worker, self._port, paths, n, start_at, seconds)
            for n in share
        ]
        results = [f.result() for f in futures]
        cpu1 = server.cpu_seconds()
        histogram: Counter[int] = Counter()
        for _, _, _, raw, _ in results:
            values = array.array("I")
            values.frombytes(raw)
            histogram.update(values)
        return Segment(
            target,
            sum(r[0] for r in results),
            max(r[2] for r in results),
            sum(r[1] for r in results),
            histogram,
            # Includes the ~0.3 s the workers wait to start together: a small overcount.
            cpu1 - cpu0,
            sum(r[4] for r in results),
        )

    def close(self) -> None:
        self._pool.shutdown()


Generator = WrkGenerator | PythonGenerator


# --- optional background ingest ----------------------------------------------------------------


class BackgroundIngest(threading.Thread):
    """Posts new scans at a steady rate while the lookups run, so the processor (its writer thread
    and its share of the GIL) competes with them as it would in production. Bounded: it stops
    when told to or when its pre-built batches run out."""

    def __init__(self, server: Server, rate: float, seconds: float, seed: int) -> None:
        super().__init__(name="background-ingest", daemon=True)
        self._server = server
        self._batch = max(1, min(500, round(rate / 4)))
        self._interval = self._batch / rate
        total = int(rate * seconds * 1.2) + self._batch
        per_package = 5
        rng = random.Random(seed)
        numbers = tracking_numbers(-(-total // per_package), rng)
        self._bodies = [
            b for b, _, _ in scan_batches(scan_rounds(numbers, per_package, rng), self._batch)
        ]
        self._stop_event = threading.Event()
        self.offered = 0
        self.accepted = 0
        self.late = 0
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.error: str | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._post())
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)

    async def _post(self) -> None:
        conn = HttpConnection(HOST, self._server.port)
        await conn.open()
        self.started_at = time.perf_counter()
        try:
            for i, body in enumerate(self._bodies):
                if self._stop_event.is_set():
                    break
                due = self.started_at + i * self._interval
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    self.late += 1
                status, answer = await conn.send(
                    conn.post_request("/v1/scans", body, self._server.key)
                )
                self.offered += self._batch
                if status == 200:
                    self.accepted += json.loads(answer)["accepted"]
        finally:
            self.stopped_at = time.perf_counter()
            await conn.close()

    def summary(self) -> dict[str, Any]:
        seconds = self.stopped_at - self.started_at
        return {
            "batch": self._batch,
            "accepted": self.accepted,
            "seconds": round(seconds, 1),
            "accepted_per_s": round(self.accepted / seconds, 1) if seconds else 0.0,
            "late_batches": self.late,
            "error": self.error,
        }


# --- the run -----------------------------------------------------------------------------------


async def load_packages(server: Server, args: argparse.Namespace) -> list[str]:
    """Post K packages x S scans and wait until every one of them is visible."""
    rng = random.Random(args.seed)
    numbers = tracking_numbers(args.packages, rng)
    batches = scan_batches(scan_rounds(numbers, args.scans_per_package, rng), 1000)
    stats = await post_all(server, batches, 4)
    if stats.accepted != len(numbers) * args.scans_per_package:
        raise RuntimeError(f"loading failed: {stats.accepted} accepted; {stats.errors[:3]}")
    tail = [tn for _, _, tn in reversed(batches[-8:])]
    await wait_visible(server, tail, [], args.scans_per_package, give_up_s=300)
    for _ in range(60):
        if await verify_all(server, numbers, args.scans_per_package) == len(numbers):
            return numbers
        await asyncio.sleep(1)
    raise RuntimeError("not every loaded package became visible")


def order(segments: int) -> list[str]:
    """L H H L L H H L ...: each target goes first as often as second."""
    out: list[str] = []
    for i in range(segments):
        pair = list(TARGETS) if i % 2 == 0 else list(reversed(TARGETS))
        out.extend(pair)
    return out


def pick_generator(args: argparse.Namespace, server: Server, workdir: Path) -> Generator:
    if args.generator in ("auto", "wrk") and shutil.which("wrk"):
        return WrkGenerator(server.port, args.connections, args.wrk_threads, workdir)
    if args.generator == "wrk":
        raise SystemExit("--generator wrk: wrk is not on PATH (apt-get install -y wrk)")
    return PythonGenerator(server.port, args.connections, args.workers)


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "lookup",
        "machine": machine(),
        "params": {
            "packages": args.packages,
            "scans_per_package": args.scans_per_package,
            "connections": args.connections,
            "duration_s_each": args.duration,
            "segments_each": args.segments,
            "warmup_s_each": args.warmup,
            "ingest_rate": args.ingest_rate,
            "seed": args.seed,
        },
    }
    with running_server() as server, tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
        started = time.perf_counter()
        numbers = asyncio.run(load_packages(server, args))
        result["load_seconds"] = round(time.perf_counter() - started, 1)
        paths = {
            "lookup": [f"/v1/track/{n}" for n in numbers],
            "healthz": ["/healthz"],
        }
        generator = pick_generator(args, server, Path(tmp))
        result["generator"] = {"name": generator.name, "detail": generator.describe()}
        background: BackgroundIngest | None = None
        if args.ingest_rate > 0:
            span = 2 * (args.duration + args.warmup) + 4 * args.segments + 10
            background = BackgroundIngest(server, args.ingest_rate, span, args.seed + 1)
            background.start()
        try:
            if args.warmup > 0:
                for target in TARGETS:
                    generator.run(target, paths[target], args.warmup, server)
            totals = {target: Totals() for target in TARGETS}
            seconds = args.duration / args.segments
            for target in order(args.segments):
                totals[target].add(generator.run(target, paths[target], seconds, server))
        finally:
            generator.close()
            if background is not None:
                background.stop()
                result["background_ingest"] = background.summary()
        result["server_threads"] = server.threads()
    for target in TARGETS:
        result[target] = totals[target].summary()
    lookups, health = result["lookup"]["requests_per_s"], result["healthz"]["requests_per_s"]
    result["ratio_lookup_to_healthz"] = round(lookups / health, 3) if health else 0.0
    pair_ratios = sorted(
        (lk.requests / lk.seconds) / (hz.requests / hz.seconds)
        for lk, hz in zip(totals["lookup"].segments, totals["healthz"].segments, strict=True)
    )
    result["ratio_per_segment_pair"] = {
        "min": round(pair_ratios[0], 3),
        "median": round(statistics.median(pair_ratios), 3),
        "max": round(pair_ratios[-1], 3),
    }
    result["targets"] = {
        "lookup_p99_ms_below": 20.0,
        "ratio_at_least": 0.70,
        "lookup_p99_met": result["lookup"]["p99_ms"] < 20.0,
        "ratio_met": result["ratio_lookup_to_healthz"] >= 0.70,
    }
    return result


def report(result: dict[str, Any]) -> str:
    p = result["params"]
    lines = [
        describe_machine(result["machine"]),
        f"generator: {result['generator']['detail']}",
        f"loaded {p['packages']:,} packages x {p['scans_per_package']} scans, all visible, in"
        f" {result['load_seconds']} s; {p['connections']} connections, {p['duration_s_each']} s"
        f" per target in {p['segments_each']} segments each (+{p['warmup_s_each']} s warm-up)",
        f"{'':8} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'errors':>7} {'server CPU':>11} {'CPU us/req':>11} {'gen CPU':>8}",
    ]
    for target in TARGETS:
        t = result[target]
        lines.append(
            f"{target:8} {t['requests_per_s']:>9,.0f} {t['p50_ms']:>8.2f} {t['p90_ms']:>8.2f}"
            f" {t['p99_ms']:>8.2f} {t['max_ms']:>8.2f} {t['errors']:>7}"
            f" {t['server_cpu_per_s']:>11.0%} {t['server_cpu_us_per_request']:>11.1f}"
            f" {t['generator_cpu_per_s']:>8.0%}"
        )
    if "background_ingest" in result:
        b = result["background_ingest"]
        lines.append(
            f"background ingest: {b['accepted']:,} scans accepted over {b['seconds']} s ="
            f" {b['accepted_per_s']:,.0f} scans/s (asked {p['ingest_rate']:,.0f}; batches of"
            f" {b['batch']}, {b['late_batches']} sent late)"
            + (f"; error: {b['error']}" if b["error"] else "")
        )
    pairs = result["ratio_per_segment_pair"]
    goals = result["targets"]
    lines += [
        f"ratio lookups/s / healthz/s = {result['ratio_lookup_to_healthz']:.3f}"
        f" (per segment pair: min {pairs['min']:.3f}, median {pairs['median']:.3f},"
        f" max {pairs['max']:.3f}); target >= 0.70: {'met' if goals['ratio_met'] else 'NOT met'}",
        f"lookup p99 {result['lookup']['p99_ms']:.2f} ms; target < 20 ms:"
        f" {'met' if goals['lookup_p99_met'] else 'NOT met'}",
        "segment req/s: "
        + "; ".join(f"{t} {result[t]['segment_requests_per_s']}" for t in TARGETS),
        "segment max ms: " + "; ".join(f"{t} {result[t]['segment_max_ms']}" for t in TARGETS),
        "(server CPU / gen CPU: cores used on average, 100% = one core; CPU us/req: server CPU"
        " time per request)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--packages", type=int, default=10_000, help="packages loaded (K)")
    parser.add_argument("--scans-per-package", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (C)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--segments", type=int, default=10, help="alternating segments per target")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="discarded seconds per target first"
    )
    parser.add_argument(
        "--ingest-rate",
        type=float,
        default=0.0,
        help="scans/s posted in the background during the measurement (0: none)",
    )
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (-t)")
    parser.add_argument("--workers", type=int, default=2, help="python generator processes")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.packages < 1 or args.scans_per_package < 1 or args.connections < 1:
        parser.error("--packages, --scans-per-package and --connections must be >= 1")
    if args.segments < 1 or args.duration / args.segments < 1:
        parser.error("each segment must last at least 1 s (--duration / --segments)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
