"""Scaled-out benchmark: `parcelstream api` (N workers) and `parcelstream processor` (M processes)
over PostgreSQL, NATS JetStream and Redis, measured against the raw ceilings of those three.

It starts the whole shape itself: a fresh PostgreSQL database (`pstbench_<hex>`), a fresh
JetStream stream (`PSTBENCH_<HEX>`) and a fresh Redis key prefix (`pstbench:<hex>:`), then
`parcelstream migrate`, `keys create`, `api --workers W` and M `processor`s. In one run it measures:

1. Steady ingest, open loop: batches of --batch scans posted on a fixed schedule (--rate scans/s
   for --duration s, each batch on its own keep-alive connection when the previous ones are still
   busy, so a slow server cannot slow the offered rate down), round by round over N packages x S
   scans. Reported: acked scans/s; batch ack latency measured from each batch's scheduled send
   time (so queueing in the client counts); and scan-to-visible latency: from a sample of every
   batch (--samples-per-batch scans), the time from the POST's acknowledgement until
   GET /v1/track shows that very scan (timestamp, status code and facility among the events).
   Sampled packages are polled round-robin at --poll-rate GET/s in total (with If-None-Match, so
   an unchanged document costs a 304 and no parsing); the latency is taken at the poll response
   that first shows the scan (an upper bound), and the previous poll's send time gives a lower
   bound, both reported. The JetStream consumer's backlog is sampled twice a second.
2. Burst: --burst scans posted as fast as 8 clients can (batches of 1000), then the time until
   the processors have acknowledged every record: the shape's saturated ack and processing rates.
3. Lookups through Redis: wrk (or the Python generator of bench/lookup.py) against
   GET /v1/track for random known numbers and GET /healthz, alternating as in bench/lookup.py.
4. Raw ceilings in the same run: `redis-benchmark -t get` on the same Redis, COPY of rows shaped
   like the scans table into a scratch table of the bench database (asyncpg
   copy_records_to_table), and JetStream publishes with PubAcks from nats-py (a scratch stream).

It also reports each component's CPU time per phase (api workers, processors, this database's
PostgreSQL backends plus its WAL writer, checkpointer and background writer, Redis, NATS, this
bench, and "others": whatever else kept the machine busy), the bytes stored per scan in
PostgreSQL, WAL per scan, Redis memory per document and JetStream bytes per record, and derives
sizing figures from them. Where the server has autovacuum off, a stand-in ANALYZEs what
autovacuum would (see --analyze-every). Everything it created is removed at the end, also on
failure, Ctrl-C or SIGTERM.

Run from the repo root (about 80 s with the defaults):

    python bench/scaled_out.py          # 3,000 scans/s for 20 s, 2 api workers, 2 processors
    python bench/scaled_out.py --processors 1 --api-workers 1 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import nats
from _support import (
    HOST,
    HttpConnection,
    HttpError,
    Server,
    cli_command,
    describe_machine,
    free_port,
    header_value,
    listening_pid,
    machine,
    machine_busy_seconds,
    process_cpu_seconds,
    process_tree,
    scan_batches,
    scan_rounds,
    stop_process,
    summarize_ms,
    tracking_numbers,
    wait_http_ready,
)
from ingest import post_all, verify_all
from lookup import TARGETS, PythonGenerator, Totals, WrkGenerator, order
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError
from redis.asyncio import Redis

CONSUMER = "processor"  # the durable consumer name the processors share (pipeline/processor.py)
SCAN_COLUMNS = (
    "tracking_number",
    "occurred_at",
    "facility_id",
    "status_code",
    "utc_offset",
    "exception_code",
    "employee_id",
    "city",
    "region",
    "postal_code",
    "country",
)
# What the brief asks the system to carry, for the sizing figures.
PEAK_SCANS_PER_S = 3000
PEAK_LOOKUPS_PER_S = 100_000
SCANS_PER_YEAR = 10_000_000_000
PACKAGES_PER_YEAR = 500_000_000


class ApiServer(Server):
    """`parcelstream api`: the uvicorn master and its worker processes; CPU counts them all."""

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.pid))


# --- the shape ---------------------------------------------------------------------------------


@dataclass
class Shape:
    args: argparse.Namespace
    workdir: Path
    database: str
    stream: str
    prefix: str
    env: dict[str, str] = field(default_factory=dict)
    api: ApiServer | None = None
    processors: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)
    cleanup: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return f"{self.args.postgres.rstrip('/')}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"{self.args.postgres.rstrip('/')}/postgres"

    @property
    def redis_url(self) -> str:
        return str(self.args.redis)


def _child_env(shape: Shape) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELSTREAM_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PARCELSTREAM_DATABASE_URL=shape.database_url,
        PARCELSTREAM_LOG_URL=f"{shape.args.nats}?stream={shape.stream}",
        PARCELSTREAM_REDIS_URL=f"{shape.redis_url}?prefix={shape.prefix}",
        # Scaled out, every process must sign unsubscribe links with the same key.
        PARCELSTREAM_SIGNING_SECRET=uuid.uuid4().hex + uuid.uuid4().hex,
    )
    return env


def _run_cli(shape: Shape, *arguments: str) -> str:
    done = subprocess.run(
        [*cli_command(), *arguments],
        capture_output=True,
        text=True,
        env=shape.env,
        cwd=shape.workdir,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"parcelstream {' '.join(arguments)} exited with {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout


def _spawn(shape: Shape, name: str, *arguments: str) -> subprocess.Popen[bytes]:
    log_path = shape.workdir / f"{name}.log"
    shape.logs[name] = log_path
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [*cli_command(), *arguments],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=shape.env,
            cwd=shape.workdir,
        )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_for_log(
    process: subprocess.Popen[bytes], log_path: Path, text: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if text in log_path.read_text(errors="replace"):
                return
        if process.poll() is not None:
            raise RuntimeError(
                f"{log_path.stem} exited with {process.returncode}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{log_path.stem} did not log {text!r} in {timeout:.0f} s")
        time.sleep(0.05)


async def _create_database(shape: Shape) -> None:
    admin = await asyncpg.connect(shape.admin_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{shape.database}"')
    finally:
        await admin.close()


async def _drop_database(shape: Shape) -> str:
    admin = await asyncpg.connect(shape.admin_url, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{shape.database}" WITH (FORCE)')
    finally:
        await admin.close()
    return shape.database


async def _delete_streams(nats_url: str, names: Sequence[str]) -> list[str]:
    nc = await nats.connect(nats_url, allow_reconnect=False, connect_timeout=5)
    deleted = []
    try:
        js = nc.jetstream(timeout=10)
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
                deleted.append(name)
    finally:
        await nc.close()
    return deleted


async def _delete_prefix(redis_url: str, prefix: str) -> int:
    """SCAN + UNLINK of this run's keys only (the Redis may be shared: never FLUSH)."""
    client = Redis.from_url(redis_url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await client.unlink(*batch)
    finally:
        await client.aclose()
    return deleted


async def _attempt(report: dict[str, Any], what: str, step: Callable[[], Awaitable[Any]]) -> None:
    try:
        report[what] = await step()
    except Exception as exc:
        report[what] = f"FAILED: {type(exc).__name__}: {exc}"
        print(f"warning: cleanup step {what!r} failed: {exc!r}", file=sys.stderr)


@contextlib.asynccontextmanager
async def scaled_shape(args: argparse.Namespace) -> AsyncIterator[Shape]:
    """The whole scaled-out shape on fresh back-end namespaces; all of it removed afterwards."""
    tag = uuid.uuid4().hex[:12]
    shape = Shape(
        args=args,
        workdir=Path(tempfile.mkdtemp(prefix="parcelstream-bench-scaled-")),
        database=f"pstbench_{tag}",
        stream=f"PSTBENCH_{tag.upper()}",
        prefix=f"pstbench:{tag}:",
    )
    shape.env = _child_env(shape)
    created_database = False
    failed = False
    try:
        await _create_database(shape)
        created_database = True
        await asyncio.to_thread(_run_cli, shape, "migrate")
        key = (await asyncio.to_thread(_run_cli, shape, *_key_arguments())).strip().splitlines()[-1]
        port = free_port()
        process = _spawn(
            shape,
            "api",
            "api",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(args.api_workers),
            "--data",
            str(shape.workdir / "data"),
        )
        shape.api = ApiServer(process, port, shape.workdir, key, shape.logs["api"])
        await asyncio.to_thread(wait_http_ready, process, port, 60)
        await _wait_workers(port, args.api_workers)
        for n in range(args.processors):
            shape.processors.append(
                _spawn(shape, f"processor-{n}", "processor", "--data", str(shape.workdir / "data"))
            )
        for n, worker in enumerate(shape.processors):
            log_path = shape.logs[f"processor-{n}"]
            await asyncio.to_thread(_wait_for_log, worker, log_path, "processor running", 60)
        yield shape
    except BaseException:
        failed = True
        raise
    finally:
        report = shape.cleanup
        codes: dict[str, int] = {}
        for n, worker in enumerate(shape.processors):
            codes[f"processor-{n}"] = await asyncio.to_thread(stop_process, worker, "processor")
        if shape.api is not None:
            workers = process_tree(shape.api.pid)[1:]
            codes["api"] = await asyncio.to_thread(stop_process, shape.api.process, "api")
            report["api_workers_left_running"] = await asyncio.to_thread(_reap, workers)
        report["exit_codes"] = codes
        report["log_problems"] = _log_problems(shape)
        if failed or any(code != 0 for code in codes.values()):
            for name, path in shape.logs.items():
                print(f"--- {name} log (tail) ---\n{_tail(path)}", file=sys.stderr)
        await _attempt(
            report, "redis_keys_deleted", lambda: _delete_prefix(shape.redis_url, shape.prefix)
        )
        await _attempt(
            report,
            "streams_deleted",
            lambda: _delete_streams(
                args.nats, [shape.stream, f"{shape.stream}_DEAD", f"{shape.stream}_CEIL"]
            ),
        )
        if created_database:
            await _attempt(report, "database_dropped", lambda: _drop_database(shape))
        shutil.rmtree(shape.workdir, ignore_errors=True)


def _reap(pids: Sequence[int]) -> list[str]:
    """End the api's child processes (uvicorn workers, multiprocessing's resource tracker) if
    they outlive their master by more than 3 s (as after a SIGKILL of it): SIGTERM, then
    SIGKILL after 10 s. Returns the command lines of those that were still running."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.1)
    left = [pid for pid in pids if _running(pid)]
    names = []
    for pid in left:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            names.append(cmdline.read().replace(b"\0", b" ").decode(errors="replace")[-80:])
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in left):
        time.sleep(0.1)
    for pid in left:
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return names


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _key_arguments() -> list[str]:
    return [
        "keys",
        "create",
        "--name",
        "bench",
        "--scope",
        "scans:write",
        "--scope",
        "packages:write",
    ]


async def _wait_workers(port: int, workers: int) -> None:
    """/healthz answered by one worker; give the others their start-up too. Every worker must
    answer /readyz (stores reachable) on fresh connections, which the kernel spreads."""
    deadline = time.monotonic() + 30
    ok = 0
    while ok < 4 * workers:
        conn = HttpConnection(HOST, port)
        try:
            status, _ = await conn.send(conn.get_request("/readyz"))
        finally:
            await conn.close()
        ok = ok + 1 if status == 200 else 0
        if time.monotonic() > deadline:
            raise RuntimeError("the api did not become ready")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)


_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


def _log_problems(shape: Shape) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, path in shape.logs.items():
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        found = [line[:300] for line in lines if _PROBLEM.search(line)]
        if found:
            problems[name] = [f"{len(found)} lines", *found[:5]]
    return problems


# --- CPU of every component --------------------------------------------------------------------


class Components:
    """CPU seconds so far of each component: api (master + workers), processors, this database's
    PostgreSQL backends plus its WAL writer / checkpointer / background writer, Redis, NATS, this
    bench process and its finished children (wrk, redis-benchmark; the Python generator's worker
    processes are still running when measured, so they land in "others")."""

    def __init__(
        self, shape: Shape, admin: asyncpg.Connection, analyzer_pid: int | None = None
    ) -> None:
        self._shape = shape
        self._admin = admin
        # The bench's stand-in for autovacuum is counted on its own, not as the shape's work.
        self._analyzer_pid = analyzer_pid
        self._redis_pid = listening_pid(urlsplit(shape.redis_url).port or 6379)
        self._nats_pid = listening_pid(urlsplit(shape.args.nats).port or 4222)

    @property
    def admin(self) -> asyncpg.Connection:
        return self._admin

    async def _postgres_pids(self) -> list[int]:
        rows = await self._admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND pid <> $2"
            " AND (datname = $1"
            " OR backend_type IN ('walwriter', 'checkpointer', 'background writer'))",
            self._shape.database,
            self._analyzer_pid or 0,
        )
        return [row[0] for row in rows]

    async def snapshot(self) -> dict[str, dict[int, float]]:
        assert self._shape.api is not None
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        single = {
            "redis": self._redis_pid,
            "nats": self._nats_pid,
        }
        snap: dict[str, dict[int, float]] = {
            "api": {p: process_cpu_seconds(p) for p in process_tree(self._shape.api.pid)},
            "processors": {p.pid: process_cpu_seconds(p.pid) for p in self._shape.processors},
            "postgres": {p: process_cpu_seconds(p) for p in await self._postgres_pids()},
            "bench": {0: own.ru_utime + own.ru_stime, 1: kids.ru_utime + kids.ru_stime},
        }
        for name, pid in single.items():
            snap[name] = {pid: process_cpu_seconds(pid)} if pid else {}
        if self._analyzer_pid:
            snap["analyze"] = {self._analyzer_pid: process_cpu_seconds(self._analyzer_pid)}
        snap["machine"] = {0: machine_busy_seconds()}
        return snap

    @staticmethod
    def delta(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        """CPU seconds per component between two snapshots (a process new in `after` counts
        whole: it started within the window), and "others": whatever else kept the machine's
        CPUs busy meanwhile (other users' processes on a shared machine, the kernel)."""
        spent = {
            name: sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in now.items())
            for name, now in after.items()
        }
        busy = spent.pop("machine", 0.0)
        spent["others"] = max(0.0, busy - sum(spent.values()))
        return {name: round(value, 3) for name, value in spent.items()}


async def wal_lsn(admin: asyncpg.Connection) -> int:
    value: int = await admin.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    return int(value)


# --- PostgreSQL settings and the stand-in for autovacuum ---------------------------------------


async def postgres_settings(admin: asyncpg.Connection) -> dict[str, str]:
    rows = await admin.fetch(
        "SELECT name, setting, unit FROM pg_settings WHERE name IN ('autovacuum', 'fsync',"
        " 'synchronous_commit', 'shared_buffers', 'server_version', 'max_wal_size',"
        " 'full_page_writes', 'wal_compression')"
    )
    return {r[0]: f"{r[1]}{' x ' + r[2] if r[2] else ''}" for r in rows}


_DUE_FOR_ANALYZE = """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
"""


async def analyze_periodically(
    conn: asyncpg.Connection | None, every: float, stop: asyncio.Event, runs: list[int]
) -> None:
    """Stands in for autovacuum where the server has it off: every `every` seconds (its naptime;
    0: never), ANALYZE the tables autovacuum would, those changed by more than 50 rows + 10 % since
    their last ANALYZE (its default thresholds). Without statistics the planner reads a package's
    history with sequential scans of every scans partition, a cost that grows with the table
    (see docs/benchmarks.md)."""
    if conn is None or every <= 0:
        return
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            break
        due = await conn.fetch(_DUE_FOR_ANALYZE)
        if due:
            await conn.execute("ANALYZE " + ", ".join(f'"{row[0]}"' for row in due))
            runs[0] += 1


# --- the JetStream consumer's backlog ------------------------------------------------------------


@dataclass
class Backlog:
    at: float
    last_seq: int
    ack_floor: int
    pending: int
    ack_pending: int

    @property
    def behind(self) -> int:
        return self.pending + self.ack_pending


async def backlog(nc: NatsClient, stream: str) -> Backlog | None:
    js = nc.jetstream(timeout=5)
    try:
        info = await js.consumer_info(stream, CONSUMER)
    except NotFoundError:
        return None
    stream_info = await js.stream_info(stream)
    return Backlog(
        time.perf_counter(),
        stream_info.state.last_seq,
        info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0,
        info.num_pending or 0,
        info.num_ack_pending or 0,
    )


async def watch_backlog(
    nc: NatsClient, stream: str, samples: list[Backlog], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            found = await backlog(nc, stream)
            if found is not None:
                samples.append(found)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def wait_processed(nc: NatsClient, stream: str, upto: int, give_up_s: float) -> float:
    """Wait until the processors have acknowledged every record up to stream sequence `upto`."""
    deadline = time.perf_counter() + give_up_s
    while True:
        found = await backlog(nc, stream)
        if found is not None and found.ack_floor >= upto:
            return found.at
        if time.perf_counter() > deadline:
            floor = found.ack_floor if found else 0
            raise RuntimeError(f"processors still at {floor} of {upto} after {give_up_s:.0f} s")
        await asyncio.sleep(0.05)


# --- 1. steady open-loop ingest with scan-to-visible sampling ------------------------------------


@dataclass
class Batch:
    body: bytes
    scans: int
    samples: list[tuple[str, str, str, str]]
    """(tracking number, timestamp, status code, facility) of the scans whose visibility is timed"""


@dataclass
class Sample:
    number: str
    timestamp: str
    code: str
    facility: str
    acked_at: float
    etag: str = ""
    polls: int = 0
    last_miss_sent: float = 0.0


@dataclass
class SteadyStats:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    send_delay_ms: list[float] = field(default_factory=list)
    first_due: float = 0.0
    last_ack: float = 0.0
    visible_ms: list[float] = field(default_factory=list)
    visible_lower_ms: list[float] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    polls_per_sample: list[int] = field(default_factory=list)
    unresolved: int = 0


def steady_batches(
    numbers: Sequence[str], per_package: int, batch: int, per_batch: int, rng: random.Random
) -> list[Batch]:
    rounds = scan_rounds(numbers, per_package, rng)
    flat = [scan for round_ in rounds for scan in round_]
    out = []
    for start in range(0, len(flat), batch):
        chunk = flat[start : start + batch]
        picked = rng.sample(range(len(chunk)), min(per_batch, len(chunk)))
        out.append(
            Batch(
                json.dumps({"scans": chunk}, separators=(",", ":")).encode(),
                len(chunk),
                [
                    (s["tracking_number"], s["timestamp"], s["status_code"], s["facility_id"])
                    for s in (chunk[i] for i in sorted(picked))
                ],
            )
        )
    return out


async def post_on_schedule(
    api: Server,
    batches: Sequence[Batch],
    rate: float,
    max_connections: int,
    stats: SteadyStats,
    pending: deque[Sample],
) -> None:
    """Open loop: batch i is due at start + i * batch / rate, whatever happened to the others."""
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    conns = [HttpConnection(HOST, api.port) for _ in range(max_connections)]
    await asyncio.gather(*(c.open() for c in conns[:8]))
    for conn in conns:
        pool.put_nowait(conn)

    async def post(index: int, batch: Batch, due: float, conn: HttpConnection) -> None:
        try:
            sent = time.perf_counter()
            status, answer = await conn.send(conn.post_request("/v1/scans", batch.body, api.key))
            acked = time.perf_counter()
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            stats.errors.append(f"batch {index}: {exc!r}")
            await conn.close()
            return
        finally:
            pool.put_nowait(conn)
        stats.ack_ms.append((acked - due) * 1000)
        stats.send_delay_ms.append((sent - due) * 1000)
        stats.last_ack = max(stats.last_ack, acked)
        if status != 200:
            stats.errors.append(f"batch {index}: HTTP {status}: {answer[:200]!r}")
            return
        outcome = json.loads(answer)
        stats.accepted += outcome["accepted"]
        stats.rejected += outcome["rejected"]
        stats.duplicates += outcome["duplicates"]
        if outcome["errors"] and len(stats.errors) < 5:
            stats.errors.append(f"batch {index}: {outcome['errors'][:2]}")
        for number, timestamp, code, facility in batch.samples:
            pending.append(Sample(number, timestamp, code, facility, acked))

    tasks = []
    start = time.perf_counter() + 0.1
    stats.first_due = start
    offered = 0
    for index, batch in enumerate(batches):
        due = start + offered / rate
        offered += batch.scans
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        tasks.append(asyncio.create_task(post(index, batch, due, conn)))
    await asyncio.gather(*tasks)
    await asyncio.gather(*(c.close() for c in conns))


def _shows(document: Any, sample: Sample) -> bool:
    return any(
        e["timestamp"] == sample.timestamp
        and e["status_code"] == sample.code
        and e["facility_id"] == sample.facility
        for e in document.get("events", ())
    )


async def poll_visibility(
    port: int,
    pending: deque[Sample],
    stats: SteadyStats,
    rate: float,
    connections: int,
    stop: asyncio.Event,
    in_flight: list[int],
) -> None:
    """Round-robin GETs of the sampled packages, `rate` per second in all, until `stop`."""
    polls = stats.polls

    async def loop() -> None:
        conn = HttpConnection(HOST, port)
        await conn.open()
        step = connections / rate
        next_at = time.perf_counter()
        try:
            while not stop.is_set():
                now = time.perf_counter()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at = max(next_at + step, time.perf_counter() - step)
                if not pending:
                    continue
                sample = pending.popleft()
                in_flight[0] += 1
                try:
                    seen = await _poll_once(conn, sample, polls)
                finally:
                    in_flight[0] -= 1
                if seen is None:
                    pending.append(sample)
                    continue
                stats.visible_ms.append(max(0.0, seen - sample.acked_at) * 1000)
                lower = max(sample.acked_at, sample.last_miss_sent)
                stats.visible_lower_ms.append(max(0.0, lower - sample.acked_at) * 1000)
                stats.polls_per_sample.append(sample.polls)
        finally:
            await conn.close()

    await asyncio.gather(*(loop() for _ in range(connections)))


async def _poll_once(conn: HttpConnection, sample: Sample, polls: dict[str, int]) -> float | None:
    """One GET; the time its answer arrived if it shows the sample's scan, else None."""
    head = f"GET /v1/track/{sample.number} HTTP/1.1\r\nHost: {HOST}\r\n"
    if sample.etag:
        head += f"If-None-Match: {sample.etag}\r\n"
    sent = time.perf_counter()
    try:
        status, response_head, body = await conn.exchange((head + "\r\n").encode())
    except (OSError, asyncio.IncompleteReadError, HttpError):
        polls["error"] = polls.get("error", 0) + 1
        await conn.close()
        return None
    got = time.perf_counter()
    sample.polls += 1
    polls[str(status)] = polls.get(str(status), 0) + 1
    if status == 200:
        sample.etag = header_value(response_head, "etag") or ""
        if _shows(json.loads(body), sample):
            return got
    sample.last_miss_sent = sent
    return None


def _by_second(samples: Sequence[Backlog], t0: float) -> list[int]:
    """The largest backlog (records fetched-not-acked plus not yet fetched) in each second."""
    out: list[int] = []
    for sample in samples:
        second = max(0, int(sample.at - t0))
        while len(out) <= second:
            out.append(0)
        out[second] = max(out[second], sample.behind)
    return out


async def steady_ingest(
    shape: Shape, components: Components, nc: NatsClient, rng: random.Random
) -> tuple[dict[str, Any], list[str]]:
    args = shape.args
    assert shape.api is not None
    numbers = tracking_numbers(args.packages, rng)
    batches = steady_batches(
        numbers, args.scans_per_package, args.batch, args.samples_per_batch, rng
    )
    total = sum(b.scans for b in batches)
    stats = SteadyStats()
    pending: deque[Sample] = deque()
    in_flight = [0]
    stop_polling = asyncio.Event()
    stop_watching = asyncio.Event()
    backlog_samples: list[Backlog] = []
    watcher = asyncio.create_task(watch_backlog(nc, shape.stream, backlog_samples, stop_watching))
    poller = asyncio.create_task(
        poll_visibility(
            shape.api.port,
            pending,
            stats,
            args.poll_rate,
            args.poll_connections,
            stop_polling,
            in_flight,
        )
    )
    cpu0 = await components.snapshot()
    wal0 = await wal_lsn(components.admin)
    t0 = time.perf_counter()
    try:
        await post_on_schedule(shape.api, batches, args.rate, args.max_connections, stats, pending)
        cpu1 = await components.snapshot()
        wal1 = await wal_lsn(components.admin)
        t1 = time.perf_counter()
        deadline = time.perf_counter() + args.visible_timeout
        # The pollers own the samples; this only watches them drain.
        while (pending or in_flight[0]) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        stats.unresolved = len(pending) + in_flight[0]
    finally:
        stop_polling.set()
        await poller
    settled = await wait_processed(nc, shape.stream, stats.accepted, args.visible_timeout)
    cpu2 = await components.snapshot()
    stop_watching.set()
    await watcher
    post_s = stats.last_ack - stats.first_due
    window = t1 - t0
    during = [b for b in backlog_samples if b.at <= t1]
    floor_rate = 0.0
    if len(during) >= 2 and during[-1].at > during[0].at:
        floor_rate = (during[-1].ack_floor - during[0].ack_floor) / (during[-1].at - during[0].at)
    cpu_posting = Components.delta(cpu0, cpu1)
    gets = sum(stats.polls.values())
    result = {
        "packages": len(numbers),
        "scans": total,
        "batches": len(batches),
        "accepted": stats.accepted,
        "rejected": stats.rejected,
        "duplicates": stats.duplicates,
        "errors": stats.errors[:5],
        "offered_scans_per_s": args.rate,
        "post_seconds": round(post_s, 3),
        "acked_scans_per_s": round(stats.accepted / post_s, 1) if post_s else 0.0,
        "batch_ack_latency_from_schedule": summarize_ms(stats.ack_ms),
        "send_delay": summarize_ms(stats.send_delay_ms),
        "scan_to_visible": {
            "samples": len(stats.visible_ms),
            "unresolved": stats.unresolved,
            **summarize_ms(stats.visible_ms),
            "lower_bound": summarize_ms(stats.visible_lower_ms),
            "polls_per_sample_mean": round(
                sum(stats.polls_per_sample) / max(1, len(stats.polls_per_sample)), 2
            ),
            "poll_gets": gets,
            "poll_gets_per_s": round(gets / max(1e-9, settled - t0), 1),
            "poll_answers": stats.polls,
        },
        "processed": {
            "ack_floor_scans_per_s_while_posting": round(floor_rate, 1),
            "max_backlog_records": max((b.behind for b in backlog_samples), default=0),
            "backlog_samples": len(backlog_samples),
            "backlog_by_second": _by_second(backlog_samples, t0),
            "last_ack_to_all_processed_s": round(settled - stats.last_ack, 3),
        },
        "cpu_seconds_while_posting": cpu_posting,
        "cores_while_posting": {k: round(v / window, 3) for k, v in cpu_posting.items()},
        "cpu_seconds_until_processed": Components.delta(cpu0, cpu2),
        "window_s": round(window, 3),
        "wal_bytes_while_posting": wal1 - wal0,
    }
    if stats.accepted != total:
        raise RuntimeError(
            f"steady ingest: {stats.accepted} of {total} accepted; {stats.errors[:3]}"
        )
    return result, numbers


# --- 2. burst: the shape's saturated ack and processing rates ------------------------------------


async def burst_ingest(
    shape: Shape, components: Components, nc: NatsClient, rng: random.Random, taken: set[str]
) -> tuple[dict[str, Any], list[str]]:
    args = shape.args
    assert shape.api is not None
    count = args.burst // args.scans_per_package
    numbers = [n for n in tracking_numbers(count + 100, rng) if n not in taken][:count]
    batches = scan_batches(scan_rounds(numbers, args.scans_per_package, rng), 1000)
    total = len(numbers) * args.scans_per_package
    before = await backlog(nc, shape.stream)
    base = before.last_seq if before else 0
    cpu0 = await components.snapshot()
    wal0 = await wal_lsn(components.admin)
    stats = await post_all(shape.api, batches, args.burst_concurrency)
    cpu1 = await components.snapshot()
    at_last_ack = await backlog(nc, shape.stream)
    if stats.accepted != total:
        raise RuntimeError(f"burst: {stats.accepted} of {total} accepted; {stats.errors[:3]}")
    done_at = await wait_processed(nc, shape.stream, base + total, args.visible_timeout * 4)
    cpu2 = await components.snapshot()
    wal1 = await wal_lsn(components.admin)
    post_s = stats.last_ack - stats.first_post
    e2e_s = done_at - stats.first_post
    floor_at_ack = (at_last_ack.ack_floor - base) if at_last_ack else 0
    tail_s = done_at - stats.last_ack
    cpu_all = Components.delta(cpu0, cpu2)
    return {
        "packages": len(numbers),
        "scans": total,
        "batch": 1000,
        "concurrency": args.burst_concurrency,
        "post_seconds": round(post_s, 3),
        "acked_scans_per_s": round(total / post_s, 1),
        "batch_ack_latency": summarize_ms(stats.latencies_ms),
        "processed_by_last_ack": floor_at_ack,
        "first_post_to_all_processed_s": round(e2e_s, 3),
        "processed_scans_per_s": round(total / e2e_s, 1),
        "processed_scans_per_s_after_last_ack": round((total - floor_at_ack) / tail_s, 1)
        if tail_s > 0
        else 0.0,
        "cpu_seconds_while_posting": Components.delta(cpu0, cpu1),
        "cpu_seconds_until_processed": cpu_all,
        "cpu_us_per_scan": {k: round(v / total * 1e6, 1) for k, v in cpu_all.items()},
        "cores_until_processed": {k: round(v / e2e_s, 3) for k, v in cpu_all.items()},
        "wal_bytes": wal1 - wal0,
    }, numbers


# --- 3. lookups through Redis --------------------------------------------------------------------


async def lookups(shape: Shape, components: Components, numbers: Sequence[str]) -> dict[str, Any]:
    args = shape.args
    api = shape.api
    assert api is not None
    paths = {"lookup": [f"/v1/track/{n}" for n in numbers], "healthz": ["/healthz"]}
    generator: WrkGenerator | PythonGenerator
    if args.generator in ("auto", "wrk") and shutil.which("wrk"):
        generator = WrkGenerator(api.port, args.connections, args.wrk_threads, shape.workdir)
    elif args.generator == "wrk":
        raise SystemExit("--generator wrk: wrk is not on PATH (apt-get install -y wrk)")
    else:
        generator = PythonGenerator(api.port, args.connections, 2)
    redis = Redis.from_url(shape.redis_url)
    totals = {target: Totals() for target in TARGETS}
    redis_cpu: dict[str, float] = dict.fromkeys(TARGETS, 0.0)
    cpu: dict[str, dict[str, float]] = {t: {} for t in TARGETS}
    redis_stats: dict[str, dict[str, int]] = {t: {} for t in TARGETS}
    try:
        for target in TARGETS:
            await asyncio.to_thread(generator.run, target, paths[target], args.warmup, api)
        seconds = args.duration_lookups / args.segments
        for target in order(args.segments):
            before = await components.snapshot()
            info0 = await redis.info("stats")
            segment = await asyncio.to_thread(generator.run, target, paths[target], seconds, api)
            info1 = await redis.info("stats")
            after = await components.snapshot()
            totals[target].add(segment)
            spent = Components.delta(before, after)
            redis_cpu[target] += spent["redis"]
            for name, value in spent.items():
                cpu[target][name] = cpu[target].get(name, 0.0) + value
            for name in ("keyspace_hits", "keyspace_misses", "total_commands_processed"):
                got = int(info1[name]) - int(info0[name])
                redis_stats[target][name] = redis_stats[target].get(name, 0) + got
    finally:
        generator.close()
        await redis.aclose()
    result: dict[str, Any] = {
        "generator": generator.describe(),
        "packages": len(numbers),
        "connections": args.connections,
        "seconds_each": args.duration_lookups,
        "segments_each": args.segments,
    }
    for target in TARGETS:
        summary = totals[target].summary()
        summary["redis_cpu_us_per_request"] = (
            round(redis_cpu[target] / summary["requests"] * 1e6, 2) if summary["requests"] else 0.0
        )
        summary["redis_stats"] = redis_stats[target]
        seconds_measured = summary["seconds"] or 1.0
        summary["cores"] = {k: round(v / seconds_measured, 3) for k, v in cpu[target].items()}
        result[target] = summary
    lookups_s = result["lookup"]["requests_per_s"]
    health_s = result["healthz"]["requests_per_s"]
    result["ratio_lookup_to_healthz"] = round(lookups_s / health_s, 3) if health_s else 0.0
    pairs = sorted(
        (lk.requests / lk.seconds) / (hz.requests / hz.seconds)
        for lk, hz in zip(totals["lookup"].segments, totals["healthz"].segments, strict=True)
    )
    result["ratio_per_segment_pair"] = {
        "min": round(pairs[0], 3),
        "median": round(pairs[len(pairs) // 2], 3),
        "max": round(pairs[-1], 3),
    }
    hits = result["lookup"]["redis_stats"].get("keyspace_hits", 0)
    result["lookup_redis_hit_share"] = round(hits / max(1, result["lookup"]["requests"]), 3)
    return result


# --- 4. raw ceilings ------------------------------------------------------------------------------


async def redis_ceiling(shape: Shape, components: Components) -> dict[str, Any]:
    args = shape.args
    if not shutil.which("redis-benchmark"):
        return {"skipped": "redis-benchmark is not on PATH (apt-get install -y redis-tools)"}
    parts = urlsplit(shape.redis_url)
    command = [
        "redis-benchmark",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 6379),
        "-t",
        "get",
        "-n",
        str(args.redis_requests),
        "-c",
        str(args.redis_clients),
        "-q",
    ]
    before = await components.snapshot()
    started = time.perf_counter()
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False, timeout=300
    )
    elapsed = time.perf_counter() - started
    after = await components.snapshot()
    found = re.findall(r"GET: ([\d.]+) requests per second(?:, p50=([\d.]+) msec)?", done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(
            f"redis-benchmark failed ({done.returncode}): {done.stdout}{done.stderr}"
        )
    rate, p50 = found[-1]
    redis_cpu = Components.delta(before, after)["redis"]
    return {
        "command": " ".join(command),
        "get_per_s": float(rate),
        "p50_ms": float(p50) if p50 else None,
        "seconds": round(elapsed, 2),
        "redis_cores": round(redis_cpu / elapsed, 3),
        "redis_cpu_us_per_get": round(redis_cpu / args.redis_requests * 1e6, 2),
    }


def _copy_rows(count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    numbers = tracking_numbers(max(1, count // 5), rng)
    now = int(datetime.now(UTC).timestamp()) * 1_000_000
    codes = ("PICKED_UP", "ARRIVED_AT_FACILITY", "DEPARTED_FACILITY", "IN_TRANSIT", "DELIVERED")
    rows = []
    for i in range(count):
        number = numbers[(i // 5) % len(numbers)]
        rows.append(
            (
                number,
                now - (i % 5) * 3 * 3600 * 1_000_000 - rng.randrange(3600) * 1_000_000,
                "ATL-HUB-01",
                codes[i % 5],
                -300,
                None,
                f"E{1000 + i % 5}",
                "Atlanta",
                "GA",
                "30336",
                "US",
            )
        )
    return rows


async def copy_ceiling(shape: Shape, components: Components, rng: random.Random) -> dict[str, Any]:
    """COPY of scan-shaped rows into a logged scratch table with the scans table's primary key."""
    rows = _copy_rows(shape.args.copy_rows, rng)
    conn = await asyncpg.connect(shape.database_url)
    try:
        await conn.execute("CREATE TABLE bench_copy_ceiling (LIKE scans INCLUDING ALL)")
        before = await components.snapshot()
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_copy_ceiling", records=rows, columns=SCAN_COLUMNS)
        elapsed = time.perf_counter() - started
        after = await components.snapshot()
        size = await conn.fetchval("SELECT pg_total_relation_size('bench_copy_ceiling')")
        await conn.execute("DROP TABLE bench_copy_ceiling")
    finally:
        await conn.close()
    cpu = Components.delta(before, after)
    return {
        "rows": len(rows),
        "seconds": round(elapsed, 3),
        "rows_per_s": round(len(rows) / elapsed, 1),
        "postgres_cpu_us_per_row": round(cpu["postgres"] / len(rows) * 1e6, 2),
        "bench_cpu_us_per_row": round(cpu["bench"] / len(rows) * 1e6, 2),
        "bytes_per_row": round(size / len(rows), 1),
        "table": "logged, primary key (tracking_number, occurred_at, facility_id, status_code),"
        " not partitioned, one COPY",
    }


def _scan_payload() -> tuple[bytes, int]:
    """A real event-log record of one scan (parcelstream.events), or a stand-in of its size."""
    try:
        from parcelstream.domain.scans import Location, Scan, ScanCode
        from parcelstream.events import scan_record
    except ImportError:
        return b"x" * 160, 160
    scan = Scan(
        tracking_number="1Z999AA10123456784",
        facility_id="ATL-HUB-01",
        occurred_at=int(time.time()) * 1_000_000,
        utc_offset=-300,
        status_code=ScanCode.ARRIVED_AT_FACILITY,
        employee_id="E1042",
        location=Location("Atlanta", "GA", "30336", "US"),
    )
    payload = scan_record(scan).payload
    return payload, len(payload)


async def nats_ceiling(shape: Shape, components: Components) -> dict[str, Any]:
    """JetStream publishes with a Nats-Msg-Id each (as the api sends), pipelined in windows of
    1000 and every PubAck awaited: the broker's ceiling for what `append` does, from Python."""
    count = shape.args.nats_messages
    payload, size = _scan_payload()
    stream = f"{shape.stream}_CEIL"
    subject = f"{stream}.events"
    nc = await nats.connect(shape.args.nats, allow_reconnect=False, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=10)
        await js.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE))
        inbox = nc.new_inbox()
        acked = 0
        failed = 0
        window_done = asyncio.Event()
        wanted = 0

        async def on_ack(msg: Msg) -> None:
            nonlocal acked, failed
            if (msg.headers and "Status" in msg.headers) or b'"error"' in msg.data:
                failed += 1
            acked += 1
            if acked >= wanted:
                window_done.set()

        await nc.subscribe(f"{inbox}.*", cb=on_ack)
        tag = uuid.uuid4().hex[:8]
        before = await components.snapshot()
        started = time.perf_counter()
        for start in range(0, count, 1000):
            window_done.clear()
            end = min(count, start + 1000)
            wanted = end
            for i in range(start, end):
                await nc.publish(
                    subject, payload, reply=f"{inbox}.{i}", headers={"Nats-Msg-Id": f"{tag}{i}"}
                )
            await asyncio.wait_for(window_done.wait(), 30)
        elapsed = time.perf_counter() - started
        after = await components.snapshot()
        info = await js.stream_info(stream)
        await js.delete_stream(stream)
    finally:
        await nc.close()
    cpu = Components.delta(before, after)
    return {
        "messages": count,
        "payload_bytes": size,
        "seconds": round(elapsed, 3),
        "publishes_per_s": round(count / elapsed, 1),
        "failed": failed,
        "stored": info.state.messages,
        "nats_cpu_us_per_message": round(cpu["nats"] / count * 1e6, 2),
        "bench_cpu_us_per_message": round(cpu["bench"] / count * 1e6, 2),
    }


# --- storage --------------------------------------------------------------------------------------


_SCANS_BYTES = (
    "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
    " WHERE inhparent = 'scans'::regclass"
)


async def scans_size(admin: asyncpg.Connection) -> tuple[int, int]:
    """(rows, bytes) of the scans partitions (tables, indexes, TOAST, free space maps)."""
    rows = await admin.fetchval("SELECT count(*) FROM scans")
    size = await admin.fetchval(_SCANS_BYTES)
    return int(rows), int(size or 0)


async def storage(
    shape: Shape, numbers: Sequence[str], nc: NatsClient, earlier: tuple[int, int] | None
) -> dict[str, Any]:
    """Bytes per scan, per document and per record, measured after the ingest phases.
    `earlier` is (rows, bytes) of the scans partitions at an earlier point: the difference
    gives the marginal bytes per scan, without the fixed cost of 16 nearly empty partitions."""
    conn = await asyncpg.connect(shape.database_url)
    try:
        await conn.execute("ANALYZE")
        scans = await conn.fetchval("SELECT count(*) FROM scans")
        scans_bytes = await conn.fetchval(_SCANS_BYTES)
        heap_bytes = await conn.fetchval(
            "SELECT sum(pg_table_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'scans'::regclass"
        )
        documents = await conn.fetchval("SELECT count(*) FROM documents")
        documents_bytes = await conn.fetchval("SELECT pg_total_relation_size('documents')")
        document_body = await conn.fetchval("SELECT avg(length(body)) FROM documents")
        document_live = await conn.fetchval("SELECT avg(pg_column_size(d.*)) FROM documents d")
        documents_index = await conn.fetchval("SELECT pg_indexes_size('documents')")
        packages = await conn.fetchval("SELECT count(*) FROM packages")
        packages_bytes = await conn.fetchval("SELECT pg_total_relation_size('packages')")
        outbox = await conn.fetchval("SELECT count(*) FROM cache_outbox")
        database_bytes = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    scans_bytes, heap_bytes = int(scans_bytes or 0), int(heap_bytes or 0)
    redis = Redis.from_url(shape.redis_url)
    try:
        sample = random.Random(7).sample(list(numbers), min(200, len(numbers)))
        sizes = [await redis.memory_usage(f"{shape.prefix}doc:{n}") for n in sample]
        known = [s for s in sizes if s]
    finally:
        await redis.aclose()
    info = await nc.jetstream(timeout=5).stream_info(shape.stream)
    return {
        "scans_rows": scans,
        "scans_bytes": scans_bytes,
        "bytes_per_scan": round(scans_bytes / scans, 1) if scans else 0.0,
        "marginal_bytes_per_scan": round((scans_bytes - earlier[1]) / (scans - earlier[0]), 1)
        if earlier and scans > earlier[0]
        else None,
        "marginal_from_rows": earlier[0] if earlier else None,
        "heap_bytes_per_scan": round(heap_bytes / scans, 1) if scans else 0.0,
        "documents": documents,
        "bytes_per_document_row": round(documents_bytes / documents, 1) if documents else 0.0,
        "document_body_bytes_avg": round(float(document_body or 0), 1),
        "document_live_row_bytes_avg": round(float(document_live or 0), 1),
        "document_index_bytes_per_row": round(documents_index / documents, 1) if documents else 0.0,
        "packages": packages,
        "bytes_per_package_row": round(packages_bytes / packages, 1) if packages else 0.0,
        "cache_outbox_rows_left": outbox,
        "database_bytes": database_bytes,
        "redis_bytes_per_document": round(sum(known) / len(known), 1) if known else 0.0,
        "redis_documents_sampled": len(known),
        "jetstream_records": info.state.messages,
        "jetstream_bytes_per_record": round(info.state.bytes / info.state.messages, 1)
        if info.state.messages
        else 0.0,
    }


# --- sizing ---------------------------------------------------------------------------------------


def sizing(result: dict[str, Any]) -> dict[str, Any]:
    """Per-unit costs measured here, scaled to the brief's load. Cores are busy CPU at 100 %;
    the counts plan for 50 % utilisation at peak (headroom for spikes, GC, failover)."""
    steady = result["steady"]
    out: dict[str, Any] = {"assumptions": {"utilisation_at_peak": 0.5}}
    window_scans = steady["accepted"]
    cpu = steady["cpu_seconds_until_processed"]
    per_scan = {k: round(v / window_scans * 1e6, 1) for k, v in cpu.items()}
    out["cpu_us_per_scan_at_rate"] = per_scan
    out["cores_for_peak_scans"] = {
        k: round(v * PEAK_SCANS_PER_S / 1e6, 2)
        for k, v in per_scan.items()
        if k not in ("bench", "others", "analyze")
    }
    burst = result.get("burst")
    if burst:
        processor_us = burst["cpu_us_per_scan"]["processors"]
        api_us = burst["cpu_us_per_scan"]["api"]
        out["processor_scans_per_s_per_core"] = round(1e6 / processor_us) if processor_us else None
        out["api_ingest_scans_per_s_per_core"] = round(1e6 / api_us) if api_us else None
        if processor_us:
            out["processor_processes_for_peak"] = math.ceil(
                PEAK_SCANS_PER_S * processor_us / 1e6 / 0.5
            )
    lk = result.get("lookups")
    if lk:
        api_us = lk["lookup"]["server_cpu_us_per_request"]
        redis_us = lk["lookup"]["redis_cpu_us_per_request"]
        out["api_lookup_us_per_request"] = api_us
        out["api_lookups_per_s_per_core"] = round(1e6 / api_us) if api_us else None
        out["api_cores_for_peak_lookups"] = round(PEAK_LOOKUPS_PER_S * api_us / 1e6, 1)
        out["api_workers_for_peak_lookups"] = math.ceil(PEAK_LOOKUPS_PER_S * api_us / 1e6 / 0.5)
        out["redis_cores_for_peak_lookups"] = round(PEAK_LOOKUPS_PER_S * redis_us / 1e6, 2)
    ceiling = result.get("ceilings", {}).get("redis", {})
    if ceiling.get("get_per_s"):
        out["redis_get_ceiling_share_of_peak_lookups"] = round(
            PEAK_LOOKUPS_PER_S / ceiling["get_per_s"], 2
        )
    st = result.get("storage")
    if st:
        per_scan_bytes = st["marginal_bytes_per_scan"] or st["bytes_per_scan"]
        out["bytes_per_scan_used"] = per_scan_bytes
        out["postgres_scans_tb_per_year"] = round(per_scan_bytes * SCANS_PER_YEAR / 1e12, 2)
        out["postgres_documents_tb_per_year"] = round(
            (
                st["document_live_row_bytes_avg"]
                + st["document_index_bytes_per_row"]
                + st["bytes_per_package_row"]
            )
            * PACKAGES_PER_YEAR
            / 1e12,
            2,
        )
        out["redis_gb_per_million_documents"] = round(st["redis_bytes_per_document"] * 1e6 / 1e9, 2)
        out["jetstream_gb_per_day_at_peak"] = round(
            st["jetstream_bytes_per_record"] * PEAK_SCANS_PER_S * 86400 / 1e9, 1
        )
        out["jetstream_gb_per_day_average"] = round(
            st["jetstream_bytes_per_record"] * SCANS_PER_YEAR / 365 / 1e9, 1
        )
    if steady["accepted"]:
        wal_per_scan = steady["wal_bytes_while_posting"] / steady["accepted"]
        out["wal_bytes_per_scan"] = round(wal_per_scan, 1)
        out["wal_mb_per_s_at_peak"] = round(wal_per_scan * PEAK_SCANS_PER_S / 1e6, 2)
    return out


# --- the run --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    result: dict[str, Any] = {
        "benchmark": "scaled_out",
        "machine": machine(),
        "server_code": server_code(),
        "params": {
            k: v for k, v in vars(args).items() if k not in ("json",) and not k.startswith("_")
        },
    }
    phases: dict[str, float] = {}
    started = time.perf_counter()
    async with scaled_shape(args) as shape:
        assert shape.api is not None
        phases["setup_s"] = round(time.perf_counter() - started, 1)
        result["shape"] = {
            "database": shape.database,
            "stream": shape.stream,
            "redis_prefix": shape.prefix,
            "api_workers": args.api_workers,
            "processors": args.processors,
            "api_processes": len(process_tree(shape.api.pid)),
        }
        admin = await asyncpg.connect(shape.database_url)
        nc = await nats.connect(args.nats, connect_timeout=5)
        settings = await postgres_settings(admin)
        result["postgres_settings"] = settings
        every = args.analyze_every
        if every is None:
            every = 2.0 if settings.get("autovacuum") == "off" else 0.0
        result["analyze_every_s"] = every
        analyzed = [0]
        stop_analyzing = asyncio.Event()
        analyze_conn = await asyncpg.connect(shape.database_url) if every > 0 else None
        analyzer = asyncio.create_task(
            analyze_periodically(analyze_conn, every, stop_analyzing, analyzed)
        )
        try:
            components = Components(
                shape, admin, analyze_conn.get_server_pid() if analyze_conn else None
            )
            mark = time.perf_counter()
            result["steady"], numbers = await steady_ingest(shape, components, nc, rng)
            phases["steady_s"] = round(time.perf_counter() - mark, 1)
            after_steady = await scans_size(admin)
            known = list(numbers)
            if args.burst > 0:
                mark = time.perf_counter()
                result["burst"], burst_numbers = await burst_ingest(
                    shape, components, nc, rng, set(numbers)
                )
                known += burst_numbers
                phases["burst_s"] = round(time.perf_counter() - mark, 1)
            if args.verify:
                mark = time.perf_counter()
                complete = await verify_all(shape.api, known, args.scans_per_package)
                result["verify"] = {"packages_complete": complete, "packages": len(known)}
                phases["verify_s"] = round(time.perf_counter() - mark, 1)
            mark = time.perf_counter()
            result["lookups"] = await lookups(shape, components, known)
            phases["lookups_s"] = round(time.perf_counter() - mark, 1)
            mark = time.perf_counter()
            result["storage"] = await storage(
                shape, known, nc, after_steady if args.burst > 0 else None
            )
            ceilings: dict[str, Any] = {}
            ceilings["redis"] = await redis_ceiling(shape, components)
            ceilings["postgres_copy"] = await copy_ceiling(shape, components, rng)
            if args.nats_messages > 0:
                ceilings["nats_publish"] = await nats_ceiling(shape, components)
            result["ceilings"] = ceilings
            phases["ceilings_s"] = round(time.perf_counter() - mark, 1)
        finally:
            stop_analyzing.set()
            await analyzer
            if analyze_conn is not None:
                await analyze_conn.close()
            result["analyze_runs"] = analyzed[0]
            await nc.close()
            await admin.close()
    result["cleanup"] = shape.cleanup
    phases["total_s"] = round(time.perf_counter() - started, 1)
    result["phases"] = phases
    result["ratios"] = ratios(result)
    result["sizing"] = sizing(result)
    result["targets"] = {
        "scan_to_visible_p99_ms_below": 1000.0,
        "scan_to_visible_p99_met": result["steady"]["scan_to_visible"]["p99_ms"] < 1000.0
        and result["steady"]["scan_to_visible"]["unresolved"] == 0,
        "lookup_p99_ms_below": 20.0,
        "lookup_p99_met": result["lookups"]["lookup"]["p99_ms"] < 20.0,
    }
    return result


def server_code() -> str:
    """Where the `parcelstream` package the processes import lives (PYTHONPATH can point the
    bench at an exported commit instead of the work tree)."""
    try:
        import parcelstream
    except ImportError:
        return "not importable here"
    return str(Path(parcelstream.__file__).resolve().parent)


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    ceilings = result.get("ceilings", {})
    redis_get = ceilings.get("redis", {}).get("get_per_s")
    copy_rows = ceilings.get("postgres_copy", {}).get("rows_per_s")
    publishes = ceilings.get("nats_publish", {}).get("publishes_per_s")
    lookups_s = result["lookups"]["lookup"]["requests_per_s"]
    burst = result.get("burst", {})

    def share(value: float | None, ceiling: float | None) -> float | None:
        return round(value / ceiling, 4) if value and ceiling else None

    return {
        "lookups_per_s_to_redis_get_per_s": share(lookups_s, redis_get),
        "healthz_per_s_to_redis_get_per_s": share(
            result["lookups"]["healthz"]["requests_per_s"], redis_get
        ),
        "steady_acked_to_nats_publish": share(result["steady"]["acked_scans_per_s"], publishes),
        "burst_acked_to_nats_publish": share(burst.get("acked_scans_per_s"), publishes),
        "burst_processed_to_copy_rows": share(burst.get("processed_scans_per_s"), copy_rows),
        "burst_processed_after_last_ack_to_copy_rows": share(
            burst.get("processed_scans_per_s_after_last_ack"), copy_rows
        ),
        "steady_rate_to_copy_rows": share(result["steady"]["acked_scans_per_s"], copy_rows),
    }


# --- output ---------------------------------------------------------------------------------------


def _cores(cores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cores.items())


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "n/a"


def report(result: dict[str, Any]) -> str:
    p, s = result["params"], result["steady"]
    vis, lat = s["scan_to_visible"], s["batch_ack_latency_from_schedule"]
    pr = s["processed"]
    shape = result["shape"]
    pg = result["postgres_settings"]
    lines = [
        describe_machine(result["machine"]),
        f"server code imported from {result['server_code']}; PostgreSQL"
        f" {pg.get('server_version')} (autovacuum {pg.get('autovacuum')}, synchronous_commit"
        f" {pg.get('synchronous_commit')}); stand-in for autovacuum's ANALYZE every"
        f" {result['analyze_every_s']:g} s (0 = none; {result['analyze_runs']} ANALYZE runs)",
        f"shape: api --workers {shape['api_workers']} ({shape['api_processes']} processes),"
        f" {shape['processors']} processors; PostgreSQL {p['postgres']}, NATS {p['nats']},"
        f" Redis {p['redis']}",
        "",
        f"steady ingest: {s['scans']:,} scans ({s['packages']:,} packages x"
        f" {p['scans_per_package']}, round by round) offered at {p['rate']:,.0f} scans/s in"
        f" {s['batches']:,} batches of {p['batch']} (open loop)",
        f"  acked {s['accepted']:,} in {s['post_seconds']:.2f} s = {s['acked_scans_per_s']:,.0f}"
        f" scans/s; batch ack p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max"
        f" {lat['max_ms']:.1f} ms (from the scheduled send time; send delay p99"
        f" {s['send_delay']['p99_ms']:.1f} ms)",
        f"  scan-to-visible ({vis['samples']:,} sampled scans, {vis['unresolved']} unresolved):"
        f" p50 {vis['p50_ms']:.0f} ms, p90 {vis['p90_ms']:.0f} ms, p99 {vis['p99_ms']:.0f} ms,"
        f" max {vis['max_ms']:.0f} ms (lower bound p50 {vis['lower_bound']['p50_ms']:.0f},"
        f" p99 {vis['lower_bound']['p99_ms']:.0f} ms); {vis['poll_gets_per_s']:.0f} poll GET/s,"
        f" {vis['polls_per_sample_mean']:.1f} GETs per sample; answers {vis['poll_answers']}",
        f"  processors: ack floor advanced {pr['ack_floor_scans_per_s_while_posting']:,.0f}"
        f" scans/s while posting, max backlog {pr['max_backlog_records']:,} records,"
        f" last ack -> all processed {pr['last_ack_to_all_processed_s']:.2f} s;"
        f" backlog by second {pr['backlog_by_second']}",
        f"  cores while posting: {_cores(s['cores_while_posting'])};"
        f" WAL {s['wal_bytes_while_posting'] / max(1, s['accepted']):,.0f} bytes/scan",
    ]
    if s["errors"]:
        lines.append(f"  errors: {s['errors']}")
    if "burst" in result:
        b = result["burst"]
        lines += [
            f"burst: {b['scans']:,} scans, batches of {b['batch']}, {b['concurrency']} clients:"
            f" acked {b['acked_scans_per_s']:,.0f} scans/s ({b['post_seconds']:.2f} s, ack p50"
            f" {b['batch_ack_latency']['p50_ms']:.0f} ms, p99"
            f" {b['batch_ack_latency']['p99_ms']:.0f} ms)",
            f"  processed: first post -> all processed {b['first_post_to_all_processed_s']:.2f} s"
            f" = {b['processed_scans_per_s']:,.0f} scans/s; after the last ack"
            f" {b['processed_scans_per_s_after_last_ack']:,.0f} scans/s"
            f" ({b['processed_by_last_ack']:,} done by then)",
            f"  CPU us/scan: {_cores(b['cpu_us_per_scan'])};"
            f" cores: {_cores(b['cores_until_processed'])}",
        ]
    if "verify" in result:
        v = result["verify"]
        lines.append(
            f"verify: {v['packages_complete']:,} of {v['packages']:,} packages show their final"
            " status and every scan"
        )
    lk = result["lookups"]
    lines += [
        f"lookups ({lk['generator']}; {lk['packages']:,} packages, {lk['seconds_each']} s per"
        f" target in {lk['segments_each']} segments):",
        f"  {'':8} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'errors':>7} {'api CPU us/req':>15} {'redis us/req':>13}",
    ]
    for target in TARGETS:
        t = lk[target]
        lines.append(
            f"  {target:8} {t['requests_per_s']:>9,.0f} {t['p50_ms']:>8.2f} {t['p90_ms']:>8.2f}"
            f" {t['p99_ms']:>8.2f} {t['max_ms']:>8.2f} {t['errors']:>7}"
            f" {t['server_cpu_us_per_request']:>15.1f} {t['redis_cpu_us_per_request']:>13.2f}"
        )
    pairs = lk["ratio_per_segment_pair"]
    lines.append(
        f"  ratio lookups/s / healthz/s {lk['ratio_lookup_to_healthz']:.3f} (segment pairs: median"
        f" {pairs['median']:.3f}, {pairs['min']:.3f}-{pairs['max']:.3f}); Redis keyspace hits per"
        f" lookup {lk['lookup_redis_hit_share']:.2f};"
        f" api cores {lk['lookup']['server_cpu_per_s']:.2f}"
        f" / {lk['healthz']['server_cpu_per_s']:.2f}, generator cores"
        f" {lk['lookup']['generator_cpu_per_s']:.2f} / {lk['healthz']['generator_cpu_per_s']:.2f}"
    )
    for target in TARGETS:
        lines.append(f"  cores during {target}: {_cores(lk[target]['cores'])}")
    c = result["ceilings"]
    r = c["redis"]
    lines.append("ceilings:")
    if "get_per_s" in r:
        lines.append(
            f"  redis-benchmark GET: {r['get_per_s']:,.0f} req/s (p50 {r['p50_ms']} ms; Redis"
            f" {r['redis_cpu_us_per_get']:.2f} us CPU per GET) [{r['command']}]"
        )
    else:
        lines.append(f"  redis-benchmark: {r.get('skipped')}")
    cp = c["postgres_copy"]
    lines.append(
        f"  PostgreSQL COPY: {cp['rows']:,} rows in {cp['seconds']:.2f} s ="
        f" {cp['rows_per_s']:,.0f} rows/s (server {cp['postgres_cpu_us_per_row']:.1f} us CPU/row,"
        f" {cp['bytes_per_row']:.0f} bytes/row stored)"
    )
    if "nats_publish" in c:
        n = c["nats_publish"]
        lines.append(
            f"  JetStream publish + PubAck (nats-py, {n['payload_bytes']} B records, msg ids):"
            f" {n['publishes_per_s']:,.0f} msgs/s (NATS {n['nats_cpu_us_per_message']:.1f} us"
            f" CPU/msg, client {n['bench_cpu_us_per_message']:.1f} us/msg)"
        )
    ra = result["ratios"]
    lines += [
        "ratios to ceilings:",
        f"  lookups/s = {_pct(ra['lookups_per_s_to_redis_get_per_s'])} of redis-benchmark GET/s"
        f" (healthz/s = {_pct(ra['healthz_per_s_to_redis_get_per_s'])})",
        f"  burst processed scans/s = {_pct(ra['burst_processed_to_copy_rows'])} of COPY rows/s"
        f" ({_pct(ra['burst_processed_after_last_ack_to_copy_rows'])} after the last ack);"
        f" steady 3,000/s = {_pct(ra['steady_rate_to_copy_rows'])}",
        f"  burst acked scans/s = {_pct(ra['burst_acked_to_nats_publish'])} of JetStream"
        f" publishes/s",
    ]
    st = result["storage"]
    marginal = st["marginal_bytes_per_scan"]
    lines.append(
        f"storage: {st['bytes_per_scan']:.0f} bytes per scan in PostgreSQL (scans partitions, heap"
        f" {st['heap_bytes_per_scan']:.0f}; {st['scans_rows']:,} rows"
        + (
            f"; {marginal:.0f} per scan added after the first {st['marginal_from_rows']:,}"
            if marginal
            else ""
        )
        + f"), {st['bytes_per_document_row']:.0f} bytes per document row on disk (live row"
        f" {st['document_live_row_bytes_avg']:.0f}, body {st['document_body_bytes_avg']:.0f}),"
        f" {st['redis_bytes_per_document']:.0f} bytes per document in Redis,"
        f" {st['jetstream_bytes_per_record']:.0f} bytes per JetStream record"
    )
    sz = result["sizing"]
    lines.append(
        f"sizing (3,000 scans/s, 100,000 lookups/s, 10 B scans/yr): cores at 3,000 scans/s"
        f" {_cores(sz['cores_for_peak_scans'])};"
        f" processor {sz.get('processor_scans_per_s_per_core')}"
        f" scans/s per core -> {sz.get('processor_processes_for_peak')} processes at 50 %;"
        f" api lookups {sz.get('api_lookups_per_s_per_core')}/s per core ->"
        f" {sz.get('api_workers_for_peak_lookups')} workers at 50 %; Redis"
        f" {sz.get('redis_cores_for_peak_lookups')} cores for 100k lookups/s;"
        f" scans {sz.get('postgres_scans_tb_per_year')} TB/yr in PostgreSQL"
    )
    goals = result["targets"]
    lines += [
        f"targets: scan-to-visible p99 {vis['p99_ms']:.0f} ms < 1000 ms at {p['rate']:,.0f}"
        f" scans/s: {'met' if goals['scan_to_visible_p99_met'] else 'NOT met'}; lookup p99"
        f" {lk['lookup']['p99_ms']:.2f} ms < 20 ms:"
        f" {'met' if goals['lookup_p99_met'] else 'NOT met'}",
        f"phases: {result['phases']}",
        f"cleanup: {result['cleanup']}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=3000.0, help="offered scans/s (steady)")
    parser.add_argument("--duration", type=float, default=20.0, help="steady ingest seconds")
    parser.add_argument("--batch", type=int, default=100, help="scans per POST (steady)")
    parser.add_argument("--scans-per-package", type=int, default=5)
    parser.add_argument(
        "--packages", type=int, default=0, help="packages (default: rate x duration / scans each)"
    )
    parser.add_argument("--samples-per-batch", type=int, default=2, help="scans timed per batch")
    parser.add_argument("--poll-rate", type=float, default=400.0, help="visibility GET/s in all")
    parser.add_argument("--poll-connections", type=int, default=2)
    parser.add_argument("--max-connections", type=int, default=32, help="posting connections")
    parser.add_argument("--visible-timeout", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=40_000, help="burst scans (0: no burst)")
    parser.add_argument("--burst-concurrency", type=int, default=8)
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--processors", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="lookup connections")
    parser.add_argument(
        "--duration-lookups", type=float, default=10.0, help="measured lookup seconds per target"
    )
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--redis-requests", type=int, default=200_000)
    parser.add_argument("--redis-clients", type=int, default=50)
    parser.add_argument("--copy-rows", type=int, default=200_000)
    parser.add_argument("--nats-messages", type=int, default=100_000, help="0: skip")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PARCELSTREAM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"
        ),
        help="PostgreSQL server URL without a database (a fresh one is created per run)",
    )
    parser.add_argument(
        "--nats", default=os.environ.get("PARCELSTREAM_BENCH_NATS", "nats://127.0.0.1:4222")
    )
    parser.add_argument(
        "--redis", default=os.environ.get("PARCELSTREAM_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=None,
        help="autovacuum's naptime for the bench's stand-in for it: every N s, ANALYZE the tables"
        " autovacuum would (default: 2 if the server has autovacuum off, else 0 = never)",
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.packages <= 0:
        args.packages = max(1, round(args.rate * args.duration / args.scans_per_package))
    if not 1 <= args.batch <= 5000 or args.scans_per_package < 1 or args.rate <= 0:
        parser.error("need 1 <= --batch <= 5000, --scans-per-package >= 1, --rate > 0")
    if args.segments < 1 or args.duration_lookups / args.segments < 1:
        parser.error("each lookup segment must last at least 1 s")
    return args


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the cleanup like Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        result = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted; the processes, database, stream and keys it made are removed")
        return 130
    print(json.dumps(result, indent=2) if args.json else report(result))
    verify = result.get("verify")
    return 1 if verify and verify["packages_complete"] != verify["packages"] else 0


if __name__ == "__main__":
    sys.exit(main())
