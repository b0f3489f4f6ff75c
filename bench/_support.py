"""Shared pieces of the benchmarks: a throw-away server, valid tracking numbers, scan payloads, a
lean HTTP/1.1 keep-alive client, percentiles and a description of the machine.

Not a benchmark itself; `bench/ingest.py` and `bench/lookup.py` import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent

# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, kernel, Python and load average: quoted beside every figure."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "revision": revision(),
    }


def revision() -> str:
    """The commit the server code comes from, "+dirty" if parcelstream/ has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "parcelstream"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['nproc']} CPU ({info['cpu_model']}), {info['ram_gib']} GiB RAM,"
        f" Linux {info['kernel']}, Python {info['python']}, loadavg at start {info['loadavg']};"
        f" server code at {info['revision']}"
    )


# --- tracking numbers and scans ----------------------------------------------------------------

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Service codes listed in the UPS format data, so numbers also carry a known service type.
_UPS_SERVICES = ("01", "02", "03", "12", "13", "15", "22", "42", "44", "66")


def ups_check_digit(body: str) -> int:
    """UPS mod 10 over the 15 characters after "1Z": letters fold onto digits as (ord - 3) % 10,
    1-based odd positions count once and even positions twice."""
    total = 0
    for position, char in enumerate(body, start=1):
        value = int(char) if char.isdigit() else (ord(char) - 3) % 10
        total += value * (2 if position % 2 == 0 else 1)
    return -total % 10


def ups_number(rng: random.Random) -> str:
    shipper = "".join(rng.choice(_ALNUM) for _ in range(6))
    body = shipper + rng.choice(_UPS_SERVICES) + f"{rng.randrange(10_000_000):07d}"
    return f"1Z{body}{ups_check_digit(body)}"


def tracking_numbers(count: int, rng: random.Random) -> list[str]:
    """`count` distinct valid UPS numbers; a few are checked against the server's own validator."""
    numbers: dict[str, None] = {}
    while len(numbers) < count:
        numbers[ups_number(rng)] = None
    result = list(numbers)
    _check_numbers(result[:50])
    return result


def _check_numbers(sample: Sequence[str]) -> None:
    try:
        from parcelstream.domain.numbers import is_valid
    except ImportError:  # the bench can run against a server installed elsewhere
        return
    bad = [n for n in sample if not is_valid(n, "ups")]
    if bad:
        raise SystemExit(f"generated invalid UPS numbers, e.g. {bad[0]}: fix ups_check_digit")


# A plausible journey; a package with M scans takes the first M-1 codes then ends DELIVERED.
_JOURNEY = (
    "LABEL_CREATED",
    "PICKED_UP",
    "ARRIVED_AT_FACILITY",
    "PROCESSED_AT_FACILITY",
    "DEPARTED_FACILITY",
    "IN_TRANSIT",
    "ARRIVED_AT_FACILITY",
    "DEPARTED_FACILITY",
    "OUT_FOR_DELIVERY",
)
# Scanners report local time with an offset; the server keeps both.
_SCANNER_TZ = timezone(timedelta(hours=-5))
_FACILITIES = (
    ("ATL-HUB-01", "Atlanta", "GA", "30336"),
    ("LOU-WORLDPORT", "Louisville", "KY", "40209"),
    ("DAL-HUB-02", "Dallas", "TX", "75261"),
    ("CHI-HUB-04", "Chicago", "IL", "60666"),
    ("PHX-SORT-01", "Phoenix", "AZ", "85034"),
)


def journey(scans: int) -> list[str]:
    """Status codes of a package's `scans` scans, oldest first (the last is DELIVERED if > 1)."""
    if scans <= 1:
        return ["LABEL_CREATED"][:scans]
    middle = [_JOURNEY[i % len(_JOURNEY)] for i in range(scans - 1)]
    return [*middle, "DELIVERED"]


def expected_status(scans: int) -> str:
    """The status a package's document shows once all its scans are processed."""
    return "DELIVERED" if scans > 1 else "LABEL_CREATED"


def scan_rounds(
    numbers: Sequence[str], per_package: int, rng: random.Random
) -> list[list[dict[str, Any]]]:
    """Scans grouped by round: round r holds the r-th scan of every package, as a network of
    scanners reports them (each package is touched once per round, not all at once)."""
    codes = journey(per_package)
    # Well inside the accepted window: the last scan is a few minutes ago.
    start = datetime.now(UTC) - timedelta(hours=per_package * 3 + 1)
    rounds: list[list[dict[str, Any]]] = [[] for _ in codes]
    for number in numbers:
        first = start + timedelta(seconds=rng.randrange(3600))
        for r, code in enumerate(codes):
            facility, city, region, postal = _FACILITIES[(r + len(number)) % len(_FACILITIES)]
            at = (first + timedelta(hours=3 * r)).astimezone(_SCANNER_TZ)
            rounds[r].append(
                {
                    "tracking_number": number,
                    "facility_id": facility,
                    "timestamp": at.isoformat(timespec="seconds"),
                    "status_code": code,
                    "employee_id": f"E{1000 + r}",
                    "location": {
                        "city": city,
                        "region": region,
                        "postal_code": postal,
                        "country": "US",
                    },
                }
            )
    return rounds


def scan_batches(
    rounds: Sequence[Sequence[dict[str, Any]]], batch: int, *, by_package: bool = False
) -> list[tuple[bytes, int, str]]:
    """(JSON body, scans in it, last tracking number in it), ready to post; encoded ahead of the
    clock so the client's own JSON work is not timed. Round by round, or with `by_package` each
    package's scans together (so the processor sees them in one batch)."""
    if by_package:
        flat = [scan for package in zip(*rounds, strict=True) for scan in package]
    else:
        flat = [scan for round_ in rounds for scan in round_]
    out: list[tuple[bytes, int, str]] = []
    for start in range(0, len(flat), batch):
        chunk = flat[start : start + batch]
        body = json.dumps({"scans": chunk}, separators=(",", ":")).encode()
        out.append((body, len(chunk), chunk[-1]["tracking_number"]))
    return out


# --- HTTP --------------------------------------------------------------------------------------


class HttpError(Exception):
    pass


class HttpConnection:
    """One HTTP/1.1 keep-alive connection with raw requests: a small fraction of a generic
    client's cost per request, so the client spends little of the machine's two cores."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    def get_request(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    def post_request(self, path: str, body: bytes, key: str) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one prepared request and read the whole response: (status, body)."""
        status, _, body = await self.exchange(request)
        return status, body

    async def exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Like `send`, but also returns the response head (status line and headers, as sent)."""
        if self._writer is None or self._reader is None:
            await self.open()
        assert self._writer is not None
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            length = int(lower[at + 17 : end])
            body = await self._reader.readexactly(length) if length else b""
        elif b"\r\ntransfer-encoding: chunked" in lower:
            raise HttpError("chunked responses are not supported by the bench client")
        else:
            body = b""
        if b"\r\nconnection: close" in lower:
            await self.close()
        return int(head[9:12]), head, body


def header_value(head: bytes, name: str) -> str | None:
    """One header's value from a response head returned by `HttpConnection.exchange`."""
    lower = head.lower()
    at = lower.find(b"\r\n" + name.lower().encode() + b":")
    if at < 0:
        return None
    start = at + 3 + len(name)
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].decode("latin-1").strip()


async def get_json(conn: HttpConnection, path: str) -> tuple[int, Any]:
    status, body = await conn.send(conn.get_request(path))
    return status, (json.loads(body) if body else None)


# --- the server under test ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _cli() -> list[str]:
    """The `parcelstream` command of this interpreter (works from a venv not on PATH too)."""
    return [sys.executable, "-m", "parcelstream.cli"]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    data: Path
    key: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the server (all its threads, and the notifier child `serve` runs)
        has used so far; a child that has exited no longer counts."""
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.pid))

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _create_key(data: Path) -> str:
    result = subprocess.run(
        [
            *_cli(),
            "keys",
            "create",
            "--name",
            "bench",
            "--scope",
            "scans:write",
            "--scope",
            "packages:write",
            "--data",
            str(data),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    return result.stdout.strip().splitlines()[-1].strip()


def _wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with code {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not ready after {timeout:.0f}s")


@contextlib.contextmanager
def running_server(keep_data: bool = False) -> Iterator[Server]:
    """A fresh `parcelstream serve` on a free port over a temporary data folder; SIGTERM at the end
    (SIGKILL if it has not stopped within 30 s) and the folder removed."""
    data = Path(tempfile.mkdtemp(prefix="parcelstream-bench-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        key = _create_key(data)
        port = free_port()
        log_path = data / "server.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [*_cli(), "serve", "--host", HOST, "--port", str(port), "--data", str(data)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        server = Server(process, port, data, key, log_path)
        try:
            _wait_ready(process, port, timeout=30)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; server log:\n{server.log_tail()}") from None
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
                print("warning: the server ignored SIGTERM for 30 s; killed", file=sys.stderr)
            if code not in (0, -signal.SIGTERM):
                tail = (data / "server.log").read_text(errors="replace")[-2000:]
                print(f"warning: the server exited with {code}:\n{tail}", file=sys.stderr)
        if not keep_data:
            shutil.rmtree(data, ignore_errors=True)


# --- statistics --------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(p / 100 * len(sorted_values))))
    return float(sorted_values[rank - 1])


def summarize_ms(values_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "p50_ms": round(percentile(ordered, 50), 3),
        "p90_ms": round(percentile(ordered, 90), 3),
        "p99_ms": round(percentile(ordered, 99), 3),
        "max_ms": round(ordered[-1], 3) if ordered else 0.0,
    }


# --- processes and their CPU (the scaled-out shape) ---------------------------------------------
# Added for bench/scaled_out.py, which runs several server processes (api workers, processors)
# and wants each component's CPU time, including the PostgreSQL, Redis and NATS servers.


def cli_command() -> list[str]:
    """The `parcelstream` command of this interpreter, as a list to extend with arguments."""
    return _cli()


def wait_http_ready(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    """Return once GET /healthz on `port` answers 200; raise if `process` exits first."""
    _wait_ready(process, port, timeout)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads) so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parent_pids() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as f:
            parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it (e.g. uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_pids().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def processes_named(*names: str) -> list[int]:
    """PIDs whose /proc/PID/comm is one of `names` (e.g. "redis-server", "nats-server")."""
    wanted = set(names)
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as comm:
            if comm.read().strip() in wanted:
                pids.append(int(entry))
    return pids


def stop_process(process: subprocess.Popen[bytes], name: str, timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`: the exit code."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        print(f"warning: {name} ignored SIGTERM for {timeout:.0f} s; killed", file=sys.stderr)
        return process.wait()


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` on this machine (e.g. the Redis or NATS server), found
    through /proc/net/tcp{,6} and the processes' open sockets; None if not found."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in targets:
                        return int(entry)
    return None


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all CPUs, all processes) since boot."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
