"""The driver-app client against a local fake of the scan API: durability, batching, refusals,
retries and backoff. The real server, killed mid-flush, is in tests/e2e/test_driver_client.py."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parcelstream.client import Backoff, Client, ClientError

from .fake_server import DROP_AFTER_STORING, DROP_BEFORE_STORING, Fail, FakeScanServer
from .fake_server import fake_scan_server as _fake_scan_server

QUICK = Backoff(first=0.01, ceiling=0.05, rng=random.Random(7))


@pytest.fixture
def fake() -> Iterator[FakeScanServer]:
    with _fake_scan_server() as server:
        yield server


def scans(count: int, prefix: str = "1Z") -> list[dict[str, Any]]:
    start = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    return [
        {
            "tracking_number": f"{prefix}{n:016d}",
            "facility_id": "ATL-HUB-01",
            "timestamp": (start + timedelta(seconds=n)).isoformat(),
            "status_code": "ARRIVED_AT_FACILITY",
        }
        for n in range(count)
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_scan_is_on_disk_when_scan_returns(tmp_path: Path) -> None:
    buffer = tmp_path / "buffer.db"
    script = f"""
import os, signal
from parcelstream.client import Client
client = Client("http://127.0.0.1:9", "k", {str(buffer)!r})
for n in range(50):
    client.scan(f"1Z{{n:016d}}", "PICKED_UP", "ATL-HUB-01", employee_id="E1")
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr.decode()
    with Client("http://127.0.0.1:9", "k", buffer) as client:
        assert client.pending == 50


def test_flush_sends_everything_in_batches_no_larger_than_batch_size(
    fake: FakeScanServer, tmp_path: Path
) -> None:
    with Client(fake.url, fake.key, tmp_path / "b.db", batch_size=400, backoff=QUICK) as client:
        client.add_many(scans(1000))
        result = client.flush()
    assert (result.sent, result.accepted, result.pending) == (1000, 1000, 0)
    assert fake.batch_sizes == [400, 400, 200]
    assert len(fake.stored) == 1000


def test_refused_scans_are_kept_with_the_servers_reason_and_never_resent(
    fake: FakeScanServer, tmp_path: Path
) -> None:
    with Client(fake.url, fake.key, tmp_path / "b.db", backoff=QUICK) as client:
        client.add_many(scans(5))
        client.add_many(scans(2, prefix="BAD"))
        first = client.flush()
        second = client.flush()
        rejected = client.rejected()
    assert (first.accepted, first.rejected, first.pending) == (5, 2, 0)
    assert second.sent == 0
    assert fake.requests == 1
    assert [r.scan["tracking_number"] for r in rejected] == [
        "BAD0000000000000000",
        "BAD0000000000000001",
    ]
    assert rejected[0].errors == [
        {
            "field": "tracking_number",
            "reason": "not a valid tracking number",
            "code": "invalid_tracking_number",
        }
    ]


def test_5xx_and_dropped_connections_are_retried_until_the_batch_is_answered(
    fake: FakeScanServer, tmp_path: Path
) -> None:
    fake.script.extend([Fail(503), DROP_BEFORE_STORING, Fail(502), Fail(500)])
    with Client(fake.url, fake.key, tmp_path / "b.db", backoff=QUICK) as client:
        client.add_many(scans(10))
        result = client.flush()
    assert (result.accepted, result.pending, result.attempts) == (10, 0, 5)


def test_a_lost_answer_makes_a_harmless_resend(fake: FakeScanServer, tmp_path: Path) -> None:
    fake.script.append(DROP_AFTER_STORING)
    with Client(fake.url, fake.key, tmp_path / "b.db", backoff=QUICK) as client:
        client.add_many(scans(10))
        result = client.flush()
    assert (result.accepted, result.duplicates, result.pending) == (0, 10, 0)
    assert fake.batch_sizes == [10, 10]
    assert len(fake.stored) == 10


def test_429_waits_at_least_as_long_as_retry_after(fake: FakeScanServer, tmp_path: Path) -> None:
    fake.script.append(Fail(429, {"Retry-After": "1"}))
    with Client(fake.url, fake.key, tmp_path / "b.db", backoff=QUICK) as client:
        client.add_many(scans(3))
        started = time.monotonic()
        result = client.flush()
        waited = time.monotonic() - started
    assert result.accepted == 3
    assert waited >= 1.0


def test_scans_stay_buffered_while_the_server_is_out_of_reach(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with Client(url, "k", tmp_path / "b.db", backoff=QUICK) as client:
        client.add_many(scans(7))
        result = client.flush(timeout=0.3)
        assert result.pending == 7
        assert result.attempts >= 2
        assert result.error is not None
        assert "unreachable" in result.error
    with _fake_scan_server() as fake, Client(fake.url, fake.key, tmp_path / "b.db") as client:
        assert client.flush().accepted == 7


def test_a_bad_key_raises_and_keeps_the_scans(fake: FakeScanServer, tmp_path: Path) -> None:
    with Client(fake.url, "wrong", tmp_path / "b.db", backoff=QUICK) as client:
        client.add_many(scans(4))
        with pytest.raises(ClientError) as raised:
            client.flush()
        assert raised.value.status == 401
        assert client.pending == 4


def test_a_batch_too_large_for_the_server_is_split(fake: FakeScanServer, tmp_path: Path) -> None:
    fake.max_batch = 300
    with Client(fake.url, fake.key, tmp_path / "b.db", batch_size=1000) as client:
        client.add_many(scans(1000))
        result = client.flush()
    assert (result.accepted, result.pending) == (1000, 0)
    assert max(fake.batch_sizes) <= 300


def test_the_background_flusher_delivers_scans_taken_later(
    fake: FakeScanServer, tmp_path: Path
) -> None:
    fake.script.extend([Fail(503), Fail(503)])
    with Client(fake.url, fake.key, tmp_path / "b.db", backoff=QUICK) as client:
        client.start(interval=0.05)
        client.scan("1Z0000000000000001", "PICKED_UP", "ATL-HUB-01")
        client.add_many(scans(20))
        deadline = time.monotonic() + 10
        while client.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.pending == 0
    assert len(fake.stored) == 21


def test_a_timestamp_without_a_time_zone_is_refused_at_once(tmp_path: Path) -> None:
    with Client("http://127.0.0.1:9", "k", tmp_path / "b.db") as client:
        with pytest.raises(ValueError, match="time zone"):
            client.scan("1Z0000000000000001", "PICKED_UP", "ATL", timestamp=datetime(2026, 1, 1))
        assert client.pending == 0


def test_a_delivery_keeps_its_own_copies_of_the_files_and_orphans_are_cleared(
    tmp_path: Path,
) -> None:
    photo = tmp_path / "porch.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0photo")
    buffer = tmp_path / "b.db"
    with Client("http://127.0.0.1:9", "k", buffer) as client:
        client.deliver("1Z5R89390357567127", "ATL-RT-114", signed_by="D. W.", photos=[photo])
        assert client.pending == 1
    photo.unlink()
    files = tmp_path / "b.db.files"
    [copy] = list(files.iterdir())
    # A copy left by a crash between writing the file and committing its delivery:
    (files / "0123abcd.jpg").write_bytes(b"orphan")
    with Client("http://127.0.0.1:9", "k", buffer) as client:
        assert client.pending == 1
    assert list(files.iterdir()) == [copy]
    assert copy.read_bytes() == b"\xff\xd8\xff\xe0photo"
