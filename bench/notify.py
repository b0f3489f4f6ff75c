"""Notification benchmark: latency from a milestone scan's acceptance to the SMS provider call,
under an open-loop scan load.

It starts a FakeTwilio (tests/providers/fakes: a local HTTP server speaking Twilio's Messages
API, in a thread of this process) and its own `parcelstream serve` (temporary data folder, free
port) configured to send SMS through it (PARCELSTREAM_TWILIO_*). Before the load it subscribes
one phone number per "milestone package" (POST /v1/notifications/subscribe, channel sms).

Then it posts --rate scans/s for --duration s, open loop: a batch of --batch scans every
batch/rate seconds on the schedule, each on an idle keep-alive connection (a new one when all are
busy), so a slow server cannot slow the offered rate down. --milestone-share of the scans are
milestones (PICKED_UP in the first third of the run, OUT_FOR_DELIVERY in the second, DELIVERED in
the last) of the subscribed packages; the rest are facility scans (ARRIVED / PROCESSED /
DEPARTED) of a pool of other packages, which never reach a milestone. Every scan is dated a few
minutes before it is posted, in order per package, so each milestone scan makes its package
enter that milestone, and it is recent enough to be notified.

Per (tracking number, milestone) it records the wall-clock time of the 200 that acknowledged the
POST carrying the scan; the fake records when each SMS arrives (`To` names the package, the body
the milestone). Reported: acked scans/s; the latency from ack to provider call (p50/p90/p99/max,
overall and by when the scan was acked, per 5 s; an SMS that never came counts as infinite);
milestone scans, SMS received, missing (no SMS within --wait s of the ack: a failure),
duplicates (a second SMS for the same milestone: must be 0); from
GET /v1/notifications/deliveries (admin key) every delivery's state, retries and event id; the
CPU of the server, the bench and everything else on the machine during the load.

For the analysis it also reads the server's own store, read-only (the embedded SQLite files; or
PostgreSQL and the JetStream consumer): the processor's backlog, undispatched milestones and
pending deliveries twice a second, and when each milestone was recorded, so each latency splits
into ack -> recorded by the processor -> dispatched by the notifier -> attempt started ->
received by the fake. `--control` runs the same scans with nobody subscribed (no SMS), to show
what the provider calls cost the rest of the server.

`--shape scaled` runs the scaled-out shape instead: a scratch PostgreSQL database, JetStream
stream and Redis prefix, `parcelstream migrate`, `api --workers W`, P `processor`s and N
`notifier`s (all removed at the end), ANALYZE every 2 s standing in for autovacuum.

Run from the repo root (about 45 s with the defaults; exit status 1 if an SMS is missing or
duplicated):

    python bench/notify.py                       # 3,000 scans/s for 20 s, 15 % milestones
    python bench/notify.py --rate 1000 --json
    python bench/notify.py --control             # the same scans, nobody subscribed
    python bench/notify.py --shape scaled --notifiers 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import (
    HOST,
    REPO_ROOT,
    HttpConnection,
    describe_machine,
    free_port,
    machine,
    percentile,
    process_cpu_seconds,
    process_tree,
    running_server,
    summarize_ms,
    tracking_numbers,
)

# The fakes live in the test tree; the bench runs from the repo root like the tests.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.providers.fakes import FakeTwilio

SENDER = "+15005550006"
_CLI = (sys.executable, "-m", "parcelstream.cli")
MILESTONES = ("PICKED_UP", "OUT_FOR_DELIVERY", "DELIVERED")
# How the built-in SMS templates (parcelstream/notify/templates/sms) start, per milestone.
_BODY_PREFIX = {
    "Parcel picked up": "PICKED_UP",
    "Out for delivery": "OUT_FOR_DELIVERY",
    "Parcel delivered": "DELIVERED",
}
_FACILITY_CODES = ("ARRIVED_AT_FACILITY", "PROCESSED_AT_FACILITY", "DEPARTED_FACILITY")
_FACILITIES = (
    ("ATL-HUB-01", "Atlanta", "GA", "30336"),
    ("LOU-WORLDPORT", "Louisville", "KY", "40209"),
    ("DAL-HUB-02", "Dallas", "TX", "75261"),
    ("CHI-HUB-04", "Chicago", "IL", "60666"),
    ("PHX-SORT-01", "Phoenix", "AZ", "85034"),
)
_DELIVERY_SITE = ("ATL-DEL-07", "Atlanta", "GA", "30303")
# Scans are dated this long before their scheduled send: recent (notified), never in the future.
_BACKDATE = timedelta(minutes=5)


# --- the workload ------------------------------------------------------------------------------


@dataclass
class Workload:
    batches: list[bytes]
    """JSON bodies, encoded before the clock starts."""
    milestones: list[list[tuple[str, str]]]
    """Per batch, the (tracking number, milestone) pairs of its milestone scans."""
    phones: dict[str, str]
    """Subscribed tracking number -> its phone number (distinct, so `To` names the package)."""
    scans: int
    milestone_scans: int
    background_packages: int


def _scan(number: str, code: str, at: datetime, site: tuple[str, str, str, str]) -> dict[str, Any]:
    facility, city, region, postal = site
    return {
        "tracking_number": number,
        "facility_id": facility,
        "timestamp": at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "status_code": code,
        "location": {"city": city, "region": region, "postal_code": postal, "country": "US"},
    }


def build_workload(args: argparse.Namespace, rng: random.Random) -> Workload:
    interval = args.batch / args.rate
    batch_count = max(1, round(args.duration / interval))
    total = batch_count * args.batch
    milestone_scans = round(total * args.milestone_share)
    subscribed = math.ceil(milestone_scans / len(MILESTONES))
    numbers = tracking_numbers(subscribed + args.background_packages, rng)
    packages, background = numbers[:subscribed], numbers[subscribed:]

    # Milestone k of every package falls in the k-th third of the run, at a random slot; the
    # last package may get fewer than three if the share does not divide evenly.
    slots: dict[int, tuple[str, str]] = {}
    third = total // len(MILESTONES)
    remaining = milestone_scans
    for k, milestone in enumerate(MILESTONES):
        count = min(subscribed, remaining)
        remaining -= count
        lo, hi = k * third, total if k == len(MILESTONES) - 1 else (k + 1) * third
        chosen = rng.sample(range(lo, hi), count)
        for position, number in zip(chosen, packages[:count], strict=True):
            slots[position] = (number, milestone)

    base = datetime.now(UTC) - _BACKDATE
    per_slot = interval / args.batch
    cursor = 0
    batches: list[bytes] = []
    milestones: list[list[tuple[str, str]]] = []
    facility_seen: Counter[str] = Counter()
    for b in range(batch_count):
        scans: list[dict[str, Any]] = []
        marks: list[tuple[str, str]] = []
        for slot in range(b * args.batch, (b + 1) * args.batch):
            at = base + timedelta(seconds=slot * per_slot)
            if slot in slots:
                number, milestone = slots[slot]
                site = _FACILITIES[0] if milestone == "PICKED_UP" else _DELIVERY_SITE
                scans.append(_scan(number, milestone, at, site))
                marks.append((number, milestone))
            else:
                number = background[cursor % len(background)]
                cursor += 1
                seen = facility_seen[number]
                facility_seen[number] += 1
                code = _FACILITY_CODES[seen % len(_FACILITY_CODES)]
                site = _FACILITIES[(seen // len(_FACILITY_CODES)) % len(_FACILITIES)]
                scans.append(_scan(number, code, at, site))
        batches.append(json.dumps({"scans": scans}, separators=(",", ":")).encode())
        milestones.append(marks)
    phones = {number: f"+1415{i:07d}" for i, number in enumerate(packages)}
    return Workload(
        batches, milestones, phones, total, milestone_scans, min(cursor, len(background))
    )


# --- the server, configured for the fake ---------------------------------------------------------


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the processes started inside (the server inherits them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def twilio_environment(twilio: FakeTwilio) -> dict[str, str]:
    return {
        "PARCELSTREAM_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PARCELSTREAM_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PARCELSTREAM_TWILIO_FROM": SENDER,
        "PARCELSTREAM_TWILIO_BASE_URL": twilio.url,
    }


def _cli(env: dict[str, str] | None, cwd: Path, *arguments: str) -> str:
    """Run a one-shot `parcelstream` command; its standard output."""
    done = subprocess.run(
        [*_CLI, *arguments], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"parcelstream {' '.join(arguments)} exited with {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


_KEY = ["keys", "create", "--name", "bench", "--scope", "scans:write", "--scope", "packages:write"]
_ADMIN_KEY = ["keys", "create", "--name", "bench-admin", "--scope", "admin"]


@dataclass
class Target:
    """The system under test, whichever its shape: where to post, its keys, the CPU of its
    processes, and (white-box, for the analysis) its backlogs and when milestones were recorded."""

    shape: str
    port: int
    key: str
    admin_key: str
    cpu: Callable[[], dict[str, float]]
    """Component -> CPU seconds so far."""
    backlog: Callable[[], Awaitable[dict[str, int]]]
    recorded: Callable[[], Awaitable[dict[tuple[str, str], float]]]


@contextlib.asynccontextmanager
async def embedded_target(env: dict[str, str]) -> AsyncIterator[Target]:
    """`parcelstream serve` (bench/_support.running_server) with `env` added to its environment."""
    with environment(env), running_server() as server:
        data = server.data
        yield Target(
            shape="embedded",
            port=server.port,
            key=server.key,
            admin_key=_last_line(_cli(None, REPO_ROOT, *_ADMIN_KEY, "--data", str(data))),
            cpu=lambda: {"serve": server.cpu_seconds()},
            backlog=lambda: asyncio.to_thread(backlog, data),
            recorded=lambda: asyncio.to_thread(recorded_times, data),
        )


# --- the scaled-out shape: api, processor and notifier processes over PostgreSQL/NATS/Redis -----


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        print(f"warning: {name} ignored SIGTERM for 30 s; killed", file=sys.stderr)


def _log_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


async def _wait_logged(path: Path, process: subprocess.Popen[bytes], text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in await asyncio.to_thread(_log_text, path):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = (await asyncio.to_thread(_log_text, path))[-2000:]
            raise RuntimeError(f"{path.stem} did not log {text!r}:\n{tail}")
        await asyncio.sleep(0.05)


async def _wait_api(port: int) -> None:
    """Every worker answers /readyz (stores reachable): several fresh connections in a row."""
    deadline, ok = time.monotonic() + 60, 0
    while ok < 8:
        conn = HttpConnection(HOST, port)
        try:
            status, _ = await conn.send(conn.get_request("/readyz"))
        except OSError:
            status = 0
        finally:
            await conn.close()
        ok = ok + 1 if status == 200 else 0
        if time.monotonic() > deadline:
            raise RuntimeError("the api did not become ready")
        await asyncio.sleep(0.05)


async def _analyze(dsn: str, every: float) -> None:
    """Stand in for autovacuum's ANALYZE, which this machine's PostgreSQL has turned off (see
    "Scaled-out shape": without statistics the processor's history read scans every partition)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        while True:
            await asyncio.sleep(every)
            await conn.execute("ANALYZE scans, packages, documents, milestones, deliveries")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scaled_target(args: argparse.Namespace, extra: dict[str, str]) -> AsyncIterator[Target]:
    """A fresh database, JetStream stream and Redis prefix; `parcelstream migrate`, then
    `api --workers W`, P `processor`s and N `notifier`s. All of it removed at the end."""
    import asyncpg
    import nats
    from redis.asyncio import Redis

    tag = uuid.uuid4().hex[:12]
    database, stream, prefix = f"pstnotify_{tag}", f"PSTNOTIFY_{tag.upper()}", f"pstnotify:{tag}:"
    server = args.postgres.rstrip("/")
    workdir = Path(tempfile.mkdtemp(prefix="parcelstream-bench-notify-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELSTREAM_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PARCELSTREAM_DATABASE_URL=f"{server}/{database}",
        PARCELSTREAM_LOG_URL=f"{args.nats}?stream={stream}",
        PARCELSTREAM_REDIS_URL=f"{args.redis}?prefix={prefix}",
        PARCELSTREAM_SIGNING_SECRET=uuid.uuid4().hex + uuid.uuid4().hex,
        **extra,
    )
    data = ["--data", str(workdir / "data")]  # only the e-mail/push outbox file would go there
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, *arguments: str) -> subprocess.Popen[bytes]:
        with open(workdir / f"{name}.log", "wb") as log_file:
            processes[name] = subprocess.Popen(
                [*_CLI, *arguments],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        return processes[name]

    admin = await asyncpg.connect(f"{server}/postgres", timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    db: asyncpg.Connection | None = None
    nc: Any = None
    analyzer: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(_cli, env, workdir, "migrate")
        key = _last_line(await asyncio.to_thread(_cli, env, workdir, *_KEY))
        admin_key = _last_line(await asyncio.to_thread(_cli, env, workdir, *_ADMIN_KEY))
        port = free_port()
        spawn("api", "api", "--host", HOST, "--port", str(port), "--workers", str(args.api_workers))
        await _wait_api(port)
        for n in range(args.processors):
            spawn(f"processor-{n}", "processor", *data)
        for n in range(args.notifiers):
            spawn(f"notifier-{n}", "notifier", *data)
        for name, process in processes.items():
            if name != "api":
                await _wait_logged(workdir / f"{name}.log", process, "running")
        db = await asyncpg.connect(f"{server}/{database}")
        nc = await nats.connect(args.nats, allow_reconnect=False, connect_timeout=5)
        js = nc.jetstream(timeout=5)
        conn: asyncpg.Connection = db

        def cpu() -> dict[str, float]:
            return {
                name: sum(process_cpu_seconds(pid) for pid in process_tree(process.pid))
                for name, process in processes.items()
            }

        async def backlog_now() -> dict[str, int]:
            info = await js.consumer_info(stream, "processor")
            undispatched = await conn.fetchval(
                "SELECT count(*) FROM milestones WHERE NOT dispatched"
            )
            pending = await conn.fetchval("SELECT count(*) FROM deliveries WHERE state = 'pending'")
            return {
                "log_records_behind": int(info.num_pending or 0) + int(info.num_ack_pending or 0),
                "milestones_undispatched": int(undispatched),
                "deliveries_pending": int(pending),
            }

        async def recorded() -> dict[tuple[str, str], float]:
            rows = await conn.fetch(
                "SELECT tracking_number, milestone, extract(epoch FROM recorded_at)::float8"
                " FROM milestones WHERE number = 1"
            )
            return {(r[0], r[1]): float(r[2]) for r in rows}

        if args.analyze_every > 0:
            analyzer = asyncio.create_task(_analyze(f"{server}/{database}", args.analyze_every))
        yield Target("scaled", port, key, admin_key, cpu, backlog_now, recorded)
    finally:
        if analyzer is not None:
            analyzer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await analyzer
        for name, process in processes.items():
            _stop(process, name)
        if db is not None:
            await db.close()
        with contextlib.suppress(Exception):
            if nc is None:
                nc = await nats.connect(args.nats, allow_reconnect=False, connect_timeout=5)
            await nc.jetstream(timeout=10).delete_stream(stream)
        if nc is not None:
            await nc.close()
        redis = Redis.from_url(args.redis)
        try:
            keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
            for start in range(0, len(keys), 1000):
                await redis.unlink(*keys[start : start + 1000])
        finally:
            await redis.aclose()
        admin = await asyncpg.connect(f"{server}/postgres", timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def subscribe_all(target: Target, phones: dict[str, str], concurrency: int) -> float:
    """One SMS subscription per package, for the three milestones; the seconds it took."""
    items = iter(phones.items())
    failures: list[str] = []

    async def client() -> None:
        conn = HttpConnection(HOST, target.port)
        try:
            for number, phone in items:
                body = json.dumps(
                    {
                        "tracking_number": number,
                        "channel": "sms",
                        "address": phone,
                        "milestones": list(MILESTONES),
                    }
                ).encode()
                status, answer = await conn.send(
                    conn.post_request("/v1/notifications/subscribe", body, target.key)
                )
                if status != 201:
                    failures.append(f"{number}: HTTP {status}: {answer[:200]!r}")
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    if failures:
        raise RuntimeError(f"{len(failures)} subscriptions failed, e.g. {failures[0]}")
    return time.perf_counter() - started


# --- the open-loop load ------------------------------------------------------------------------


@dataclass
class LoadStats:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    ack_wall: dict[int, float] = field(default_factory=dict)
    """Batch index -> time.time() when its 200 was read."""
    ack_latencies_ms: list[float] = field(default_factory=list)
    """From each batch's scheduled send time to its 200 (client queueing included)."""
    late_sends_ms: list[float] = field(default_factory=list)
    """How late each batch went out against its schedule."""
    connections: int = 0
    """Keep-alive connections opened (more than one when POSTs overlap)."""
    first_send: float = 0.0
    last_ack: float = 0.0


# uvicorn closes a keep-alive connection idle for 5 s; one idle longer than this is not reused,
# so a POST never races the server closing it.
_MAX_IDLE_S = 2.0


async def post_open_loop(
    target: Target, batches: Sequence[bytes], interval: float, max_connections: int
) -> LoadStats:
    stats = LoadStats()
    idle: list[tuple[HttpConnection, float]] = []
    slots = asyncio.Semaphore(max_connections)
    tasks: list[asyncio.Task[None]] = []
    closing: list[asyncio.Task[None]] = []

    def connection() -> HttpConnection:
        while idle:
            conn, since = idle.pop()
            if time.perf_counter() - since < _MAX_IDLE_S:
                return conn
            closing.append(asyncio.create_task(conn.close()))
        stats.connections += 1
        return HttpConnection(HOST, target.port)

    async def post(index: int, scheduled: float) -> None:
        async with slots:
            conn = connection()
            sent = time.perf_counter()
            stats.late_sends_ms.append((sent - scheduled) * 1000)
            request = conn.post_request("/v1/scans", batches[index], target.key)
            try:
                status, answer = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError) as exc:
                stats.errors.append(f"batch {index}: {type(exc).__name__}: {exc}")
                await conn.close()
                return
            wall, done = time.time(), time.perf_counter()
            idle.append((conn, done))
        stats.ack_latencies_ms.append((done - scheduled) * 1000)
        stats.last_ack = max(stats.last_ack, done)
        if status != 200:
            stats.errors.append(f"batch {index}: HTTP {status}: {answer[:300]!r}")
            return
        stats.ack_wall[index] = wall
        outcome = json.loads(answer)
        stats.accepted += outcome["accepted"]
        stats.rejected += outcome["rejected"]
        stats.duplicates += outcome["duplicates"]
        if outcome["errors"] and len(stats.errors) < 5:
            stats.errors.append(f"batch {index}: {outcome['errors'][:2]}")

    start = time.perf_counter() + 0.05
    stats.first_send = start
    for index in range(len(batches)):
        scheduled = start + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(index, scheduled)))
    await asyncio.gather(*tasks)
    await asyncio.gather(*closing, *(conn.close() for conn, _ in idle))
    return stats


# --- matching SMS to scans -----------------------------------------------------------------------


@dataclass
class Matched:
    latencies_ms: dict[tuple[str, str], float]
    """(tracking number, milestone) -> ack -> first SMS received."""
    received_at: dict[tuple[str, str], float]
    sms_received: int
    duplicates: list[tuple[str, str]]
    unmatched: list[str]


def match_sms(
    twilio: FakeTwilio, phones: dict[str, str], acked: dict[tuple[str, str], float]
) -> Matched:
    by_phone = {phone: number for number, phone in phones.items()}
    first: dict[tuple[str, str], float] = {}
    counts: Counter[tuple[str, str]] = Counter()
    unmatched: list[str] = []
    accepted = list(twilio.accepted)
    for message in accepted:
        number = by_phone.get(message.content.get("To", ""))
        body = message.content.get("Body", "")
        milestone = next((m for p, m in _BODY_PREFIX.items() if body.startswith(p)), None)
        if number is None or milestone is None:
            unmatched.append(f"To={message.content.get('To')!r} Body={body[:40]!r}")
            continue
        key = (number, milestone)
        counts[key] += 1
        if key not in first or message.received.at < first[key]:
            first[key] = message.received.at
    latencies = {key: (first[key] - acked[key]) * 1000 for key in first if key in acked}
    duplicates = [key for key, n in counts.items() if n > 1]
    return Matched(latencies, first, len(accepted), duplicates, unmatched)


async def wait_for_sms(
    twilio: FakeTwilio, expected: int, deadline: float, grace: float
) -> float | None:
    """Wait until the fake has accepted `expected` SMS (then `grace` s more, for any duplicate)
    or until `deadline` (perf_counter); the perf_counter time all had arrived, if they did."""
    complete: float | None = None
    while time.perf_counter() < deadline:
        if len(twilio.accepted) >= expected:
            complete = time.perf_counter()
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(grace)
    return complete


async def fetch_deliveries(
    target: Target, numbers: Sequence[str], connections: int = 4
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    todo = iter(numbers)

    async def client() -> None:
        conn = HttpConnection(HOST, target.port)
        try:
            for number in todo:
                request = (
                    f"GET /v1/notifications/deliveries?tracking_number={number} HTTP/1.1\r\n"
                    f"Host: {HOST}:{target.port}\r\n"
                    f"Authorization: Bearer {target.admin_key}\r\n\r\n"
                ).encode()
                status, body = await conn.send(request)
                if status != 200:
                    raise RuntimeError(f"deliveries for {number}: HTTP {status}: {body[:200]!r}")
                found.extend(json.loads(body)["deliveries"])
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return found


# --- inside the embedded server: its SQLite files, read-only -----------------------------------
# White-box, for the analysis only (the figures above come from HTTP and the fake): where the
# milestones wait. Readers of a WAL database never block its writers.


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)


def backlog(data: Path) -> dict[str, int]:
    """Scans appended to the log and not yet applied by the processor; milestones recorded and
    not yet dispatched by the notifier; deliveries planned and not yet sent."""
    log, state = _read_only(data / "log.db"), _read_only(data / "state.db")
    try:
        last = log.execute("SELECT coalesce(max(seq), 0) FROM log").fetchone()[0]
        acked = log.execute("SELECT coalesce(max(acked), 0) FROM consumers").fetchone()[0]
        undispatched = state.execute(
            "SELECT count(*) FROM milestones WHERE dispatched = 0"
        ).fetchone()[0]
        pending = state.execute(
            "SELECT count(*) FROM deliveries WHERE state = 'pending'"
        ).fetchone()[0]
    finally:
        log.close()
        state.close()
    return {
        "log_records_behind": int(last) - int(acked),
        "milestones_undispatched": int(undispatched),
        "deliveries_pending": int(pending),
    }


async def sample_backlog(
    target: Target, stop: asyncio.Event, into: list[dict[str, Any]], period: float = 0.5
) -> None:
    started = time.perf_counter()
    while not stop.is_set():
        with contextlib.suppress(Exception):  # a sample missed is no failure
            sample = await target.backlog()
            into.append({"t_s": round(time.perf_counter() - started, 2), **sample})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


def recorded_times(data: Path) -> dict[tuple[str, str], float]:
    """(tracking number, milestone) -> when the processor recorded its first occurrence."""
    state = _read_only(data / "state.db")
    try:
        rows = state.execute(
            "SELECT tracking_number, milestone, recorded_at FROM milestones WHERE number = 1"
        ).fetchall()
    finally:
        state.close()
    return {(tn, milestone): at / 1e6 for tn, milestone, at in rows}


def split_latencies(
    deliveries: Sequence[dict[str, Any]],
    acked: dict[tuple[str, str], float],
    recorded: dict[tuple[str, str], float],
    received: dict[tuple[str, str], float],
) -> dict[str, dict[str, float]]:
    """Where each SMS's time went: ack -> recorded (the processor applied the scan and wrote the
    milestone to the outbox) -> dispatched (the notifier planned the delivery) -> attempt
    started -> the fake received it. The first part covers every milestone scan acked."""
    parts: dict[str, list[float]] = {
        "ack_to_recorded": [(recorded[k] - at) * 1000 for k, at in acked.items() if k in recorded],
        "recorded_to_dispatched": [],
        "dispatched_to_attempt": [],
        "attempt_to_provider": [],
    }
    for d in deliveries:
        key = (d["tracking_number"], d["milestone"])
        if key not in acked or key not in received or key not in recorded or not d["sent_at"]:
            continue
        created, sent = d["created_at"] / 1e6, d["sent_at"] / 1e6
        parts["recorded_to_dispatched"].append((created - recorded[key]) * 1000)
        parts["dispatched_to_attempt"].append((sent - created) * 1000)
        parts["attempt_to_provider"].append((received[key] - sent) * 1000)
    return {name: summarize_ms(values) for name, values in parts.items()}


async def wait_drained(target: Target, deadline: float) -> float | None:
    """(--control) Wait until the processor has applied every scan and the notifier dispatched
    every milestone; the perf_counter time it had, if before `deadline`."""
    while time.perf_counter() < deadline:
        with contextlib.suppress(Exception):
            now = await target.backlog()
            if not now["log_records_behind"] and not now["milestones_undispatched"]:
                return time.perf_counter()
        await asyncio.sleep(0.05)
    return None


def summarize_censored(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p99/max where an infinite value (an SMS that never came) gives None."""
    ordered = sorted(values_ms)

    def finite(value: float) -> float | None:
        return None if math.isinf(value) else round(value, 1)

    return {
        "p50_ms": finite(percentile(ordered, 50)),
        "p90_ms": finite(percentile(ordered, 90)),
        "p99_ms": finite(percentile(ordered, 99)),
        "max_ms": finite(ordered[-1]) if ordered else 0.0,
    }


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot: every process, every CPU. On
    a shared VM, busy time that is neither the server's nor the bench's is a neighbour's."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks, steal / ticks


# --- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    interval = args.batch / args.rate
    workload = build_workload(args, rng)
    result: dict[str, Any] = {
        "benchmark": "notify",
        "machine": machine(),
        "params": {
            "rate": args.rate,
            "duration_s": args.duration,
            "batch": args.batch,
            "interval_ms": round(interval * 1000, 2),
            "batches": len(workload.batches),
            "scans": workload.scans,
            "milestone_share": args.milestone_share,
            "milestone_scans": workload.milestone_scans,
            "subscribed_packages": len(workload.phones),
            "background_packages": workload.background_packages,
            "max_connections": args.max_connections,
            "wait_s": args.wait,
            "control": args.control,
            "shape": args.shape,
            "scaled": None
            if args.shape == "embedded"
            else {
                "api_workers": args.api_workers,
                "processors": args.processors,
                "notifiers": args.notifiers,
                "analyze_every_s": args.analyze_every,
            },
            "seed": args.seed,
        },
    }
    with FakeTwilio() as twilio:
        env = twilio_environment(twilio)
        shape = embedded_target(env) if args.shape == "embedded" else scaled_target(args, env)
        async with shape as target:
            result["subscribe_seconds"] = (
                0.0
                if args.control
                else round(await subscribe_all(target, workload.phones, concurrency=8), 2)
            )
            samples: list[dict[str, Any]] = []
            stop_sampling = asyncio.Event()
            sampler = asyncio.create_task(sample_backlog(target, stop_sampling, samples))
            cpu_before, own_before = target.cpu(), time.process_time()
            busy_before, steal_before = machine_cpu()
            stats = await post_open_loop(target, workload.batches, interval, args.max_connections)
            at_last_ack = len(samples)
            cpu_at_ack, own_at_ack = target.cpu(), time.process_time()
            busy_at_ack, steal_at_ack = machine_cpu()
            acked: dict[tuple[str, str], float] = {}
            for index, wall in stats.ack_wall.items():
                for key in workload.milestones[index]:
                    acked[key] = wall
            last_ack_wall = max(stats.ack_wall.values(), default=time.time())
            if args.control:
                complete_at = await wait_drained(target, stats.last_ack + args.wait)
            else:
                complete_at = await wait_for_sms(
                    twilio, len(acked), deadline=stats.last_ack + args.wait, grace=args.grace
                )
            cpu_end = target.cpu()
            stop_sampling.set()
            await sampler
            matched = match_sms(twilio, workload.phones, acked)
            recorded = await target.recorded()
            deliveries = await fetch_deliveries(target, list(workload.phones))
            problems = list(twilio.problems)
            requests = len(twilio.requests)

    load_s = stats.last_ack - stats.first_send
    server_load = sum(cpu_at_ack.values()) - sum(cpu_before.values())
    missing = [
        key
        for key, at in acked.items()
        if not args.control
        and (key not in matched.received_at or matched.received_at[key] - at > args.wait)
    ]
    late = [key for key in missing if key in matched.received_at]
    states = Counter(d["state"] for d in deliveries)
    retried = sum(1 for d in deliveries if d["attempts"] > 1)
    event_ids = Counter(d["event_id"] for d in deliveries)
    values = list(matched.latencies_ms.values())
    # An SMS that never came counts as an infinite latency, so percentiles are not flattered by
    # leaving out the slowest (None in the result: "more than the wait").
    latency_of = {key: matched.latencies_ms.get(key, math.inf) for key in acked}
    # The notifier's throughput while scans come in, and once they stop (draining its backlog).
    arrivals = sorted(matched.received_at.values())
    during = sum(1 for at in arrivals if at <= last_ack_wall)
    after = len(arrivals) - during
    drain_s = arrivals[-1] - last_ack_wall if after else 0.0
    result["load"] = {
        "accepted": stats.accepted,
        "rejected": stats.rejected,
        "duplicate_scans": stats.duplicates,
        "errors": stats.errors[:5],
        "seconds": round(load_s, 3),
        "acked_scans_per_s": round(stats.accepted / load_s, 1) if load_s > 0 else 0.0,
        "batch_ack_latency_from_schedule": summarize_ms(stats.ack_latencies_ms),
        "send_lateness": summarize_ms(stats.late_sends_ms),
        "connections_used": stats.connections,
        "server_cpu_seconds": round(server_load, 2),
        "server_cpu_by_process": {
            name: round(cpu_at_ack.get(name, 0.0) - cpu_before.get(name, 0.0), 2)
            for name in cpu_at_ack
        },
        "bench_cpu_seconds": round(own_at_ack - own_before, 2),
        "other_processes_cpu_seconds": round(
            (busy_at_ack - busy_before) - server_load - (own_at_ack - own_before), 2
        ),
        "steal_seconds": round(steal_at_ack - steal_before, 2),
    }
    windows: list[dict[str, Any]] = []
    start_wall = min(stats.ack_wall.values(), default=0.0)
    step = 5.0
    for w in range(math.ceil((last_ack_wall - start_wall) / step) or 1):
        part = [
            v
            for key, v in latency_of.items()
            if start_wall + w * step <= acked[key] < start_wall + (w + 1) * step
        ]
        windows.append({"from_s": w * step, "milestones": len(part), **summarize_censored(part)})
    result["notify"] = {
        "milestone_scans_acked": len(acked),
        "sms_received": matched.sms_received,
        "provider_requests": requests,
        "provider_problems": problems[:5],
        "matched": len(matched.latencies_ms),
        "missing": len(missing),
        "missing_examples": [list(k) for k in missing[:5]],
        "arrived_after_wait": len(late),
        "duplicates": len(matched.duplicates),
        "duplicate_examples": [list(k) for k in matched.duplicates[:5]],
        "unmatched": len(matched.unmatched),
        "unmatched_examples": matched.unmatched[:3],
        "latency": summarize_censored(list(latency_of.values())),
        "min_ms": round(min(values), 3) if values else 0.0,
        "target_p99_ms": args.target_p99 * 1000,
        "target_met": bool(values)
        and percentile(sorted(latency_of.values()), 99) < args.target_p99 * 1000,
        "windows": windows,
        "last_ack_to_all_sms_s": None
        if complete_at is None
        else round(complete_at - stats.last_ack, 3),
        "server_cpu_seconds_after_last_ack": round(
            sum(cpu_end.values()) - sum(cpu_at_ack.values()), 2
        ),
        "sms_per_s_offered": round(len(acked) / load_s, 1) if load_s > 0 else 0.0,
        "sms_per_s_during_load": round(during / load_s, 1) if load_s > 0 else 0.0,
        "sms_per_s_after_load": round(after / drain_s, 1) if drain_s > 0 else None,
    }
    result["deliveries"] = {
        "records": len(deliveries),
        "states": dict(states),
        "retried": retried,
        "duplicate_event_ids": sum(1 for n in event_ids.values() if n > 1),
        "split": split_latencies(deliveries, acked, recorded, matched.received_at),
    }
    result["backlog"] = {
        "max": {
            name: max((sample[name] for sample in samples), default=0)
            for name in ("log_records_behind", "milestones_undispatched", "deliveries_pending")
        },
        "at_last_ack": samples[at_last_ack - 1] if at_last_ack else None,
        "samples": samples,
    }
    return result


def report(result: dict[str, Any]) -> str:
    p, load, n, d = result["params"], result["load"], result["notify"], result["deliveries"]
    b = result["backlog"]
    lat, ack = n["latency"], load["batch_ack_latency_from_schedule"]
    split = d["split"]

    def ms(value: float | None) -> str:
        return f"> {p['wait_s']:g} s" if value is None else f"{value:.0f} ms"

    def q(s: dict[str, float]) -> str:
        return f"p50 {s['p50_ms']:.0f} / p99 {s['p99_ms']:.0f} / max {s['max_ms']:.0f} ms"

    lines = [
        describe_machine(result["machine"]),
        f"offered: {p['rate']:,} scans/s for {p['duration_s']} s = {p['scans']:,} scans in"
        f" {p['batches']} batches of {p['batch']} every {p['interval_ms']} ms (open loop);"
        f" {p['milestone_scans']:,} milestone scans ({p['milestone_share']:.0%}) of"
        f" {p['subscribed_packages']:,} {'(unsubscribed) ' if p['control'] else 'SMS-subscribed '}"
        f"packages, the rest facility scans of"
        f" {p['background_packages']:,} packages"
        f" (subscribing took {result['subscribe_seconds']} s)",
        f"acked:   {load['accepted']:,} accepted, {load['rejected']} rejected in"
        f" {load['seconds']:.2f} s = {load['acked_scans_per_s']:,.0f} scans/s;"
        f" batch ack from schedule p50 {ack['p50_ms']:.1f} / p99 {ack['p99_ms']:.1f} /"
        f" max {ack['max_ms']:.1f} ms; {load['connections_used']} connections;"
        f" CPU: server {load['server_cpu_seconds']:.1f} s, bench (+ fake)"
        f" {load['bench_cpu_seconds']:.1f} s, other processes"
        f" {load['other_processes_cpu_seconds']:.1f} s (incl. kernel softirq),"
        f" steal {load['steal_seconds']:.1f} s",
    ]
    backlog_line = (
        f"backlog: max {b['max']['log_records_behind']:,} log records behind the processor,"
        f" {b['max']['milestones_undispatched']:,} milestones undispatched,"
        f" {b['max']['deliveries_pending']:,} deliveries pending (sampled every 0.5 s)"
    )
    if p["control"]:
        lines += [
            f"control: nobody subscribed, so no SMS; {n['milestone_scans_acked']:,} milestone"
            " scans acked",
            f"split:   ack -> recorded by the processor {q(split['ack_to_recorded'])}",
            backlog_line,
            f"drained: last ack -> every scan applied and every milestone dispatched"
            f" {n['last_ack_to_all_sms_s']} s"
            f" (server CPU {n['server_cpu_seconds_after_last_ack']} s)",
        ]
        if load["errors"]:
            lines.append(f"errors:  {load['errors']}")
        return "\n".join(lines)
    lines += [
        f"sms:     {n['milestone_scans_acked']:,} milestone scans acked, {n['sms_received']:,} SMS"
        f" received ({n['provider_requests']:,} requests), missing {n['missing']}"
        f" (of which arrived late {n['arrived_after_wait']}), duplicates {n['duplicates']},"
        f" unmatched {n['unmatched']}",
        f"latency: ack -> provider call p50 {ms(lat['p50_ms'])}, p90 {ms(lat['p90_ms'])},"
        f" p99 {ms(lat['p99_ms'])}, max {ms(lat['max_ms'])} (min {n['min_ms']:.0f} ms);"
        f" p99 < {n['target_p99_ms'] / 1000:g} s: {'met' if n['target_met'] else 'NOT met'}",
        "by when the scan was acked, per 5 s (an SMS that never came counts as > the wait):"
        "\n         "
        + ", ".join(
            f"[{w['from_s']:.0f}s] p50 {ms(w['p50_ms'])} / p99 {ms(w['p99_ms'])}"
            for w in n["windows"]
        ),
        f"split:   ack -> recorded by the processor {q(split['ack_to_recorded'])}",
        f"         recorded -> dispatched by the notifier {q(split['recorded_to_dispatched'])}",
        f"         dispatched -> attempt started {q(split['dispatched_to_attempt'])}",
        f"         attempt started -> provider received {q(split['attempt_to_provider'])}",
        backlog_line,
        f"rates:   SMS offered {n['sms_per_s_offered']:,.0f}/s; the fake received"
        f" {n['sms_per_s_during_load']:,.0f}/s while scans came in,"
        f" {n['sms_per_s_after_load'] or 0:,.0f}/s after the last ack",
        f"records: {d['records']:,} deliveries {d['states']}, {d['retried']} retried,"
        f" {d['duplicate_event_ids']} duplicate event ids; last ack -> all SMS"
        f" {n['last_ack_to_all_sms_s']} s (server CPU {n['server_cpu_seconds_after_last_ack']} s)",
    ]
    if load["errors"]:
        lines.append(f"errors:  {load['errors']}")
    if n["provider_problems"]:
        lines.append(f"fake refused: {n['provider_problems']}")
    if n["missing_examples"]:
        lines.append(f"missing e.g. {n['missing_examples']}")
    if n["unmatched_examples"]:
        lines.append(f"unmatched e.g. {n['unmatched_examples']}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=3000.0, help="scans/s offered")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--batch", type=int, default=100, help="scans per POST (<= 5000)")
    parser.add_argument(
        "--milestone-share",
        type=float,
        default=0.15,
        help="share of scans that are milestones of SMS-subscribed packages (0-1)",
    )
    parser.add_argument(
        "--background-packages",
        type=int,
        default=20_000,
        help="packages the facility scans are spread over",
    )
    parser.add_argument(
        "--max-connections", type=int, default=64, help="most concurrent POSTs (open loop)"
    )
    parser.add_argument(
        "--wait", type=float, default=30.0, help="an SMS later than this after its ack is missing"
    )
    parser.add_argument(
        "--grace", type=float, default=2.0, help="wait this long after the last SMS for repeats"
    )
    parser.add_argument("--target-p99", type=float, default=2.0, help="p99 target, seconds")
    parser.add_argument(
        "--control",
        action="store_true",
        help="subscribe nobody: the same scans and milestones, no SMS (what the provider calls"
        " cost the server, by comparison)",
    )
    parser.add_argument(
        "--shape",
        choices=("embedded", "scaled"),
        default="embedded",
        help="embedded: `parcelstream serve` (default); scaled: api, processor and notifier"
        " processes over PostgreSQL, NATS JetStream and Redis",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="(scaled) api workers")
    parser.add_argument("--processors", type=int, default=1, help="(scaled) processors")
    parser.add_argument("--notifiers", type=int, default=1, help="(scaled) notifiers")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PARCELSTREAM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"
        ),
        help="(scaled) PostgreSQL server; a scratch database is created and dropped",
    )
    parser.add_argument(
        "--nats",
        default=os.environ.get("PARCELSTREAM_BENCH_NATS", "nats://127.0.0.1:4222"),
        help="(scaled) NATS server; a scratch stream is created and deleted",
    )
    parser.add_argument(
        "--redis",
        default=os.environ.get("PARCELSTREAM_BENCH_REDIS", "redis://127.0.0.1:6379/0"),
        help="(scaled) Redis; keys under a scratch prefix, deleted at the end",
    )
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=2.0,
        help="(scaled) ANALYZE the tables this often, standing in for autovacuum (0: never)",
    )
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or not 1 <= args.batch <= 5000:
        parser.error("need --rate > 0, --duration > 0, 1 <= --batch <= 5000")
    if not 0 < args.milestone_share < 1 or args.background_packages < 1:
        parser.error("need 0 < --milestone-share < 1 and --background-packages >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))
    n = result["notify"]
    return 1 if n["missing"] or n["duplicates"] else 0


if __name__ == "__main__":
    sys.exit(main())
