"""The driver-app client against a real `parcelstream serve`: the server is SIGKILLed and
restarted mid-flush several times, and the client process itself is SIGKILLed mid-flush and
started again; at the end every buffered scan is in the server exactly once and the buffer is
empty. E2E_SEED=<n> replays the same scans and kill points.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest

from parcelstream.client import Backoff, Client

from .harness import Server, ServerFactory, child_env, create_key
from .streaming import wait_until
from .workload import Scan, expected_document, journey, recent_start, settle, ups_numbers

pytestmark = pytest.mark.slow

PACKAGES = 300


def workload(rng: random.Random) -> tuple[list[Scan], dict[str, list[Scan]]]:
    start = recent_start(days_ago=6)
    journeys = {
        number: journey(rng, number, start + timedelta(minutes=rng.randint(0, 900)), 10)
        for number in ups_numbers(rng, PACKAGES)
    }
    pool = [scan for scans in journeys.values() for scan in scans]
    rng.shuffle(pool)
    return pool, journeys


def pending_in(buffer: Path) -> int:
    """Read from outside the client, as another process would."""
    conn = sqlite3.connect(buffer, timeout=30)
    try:
        count: int = conn.execute("SELECT count(*) FROM pending").fetchone()[0]
        return count
    finally:
        conn.close()


async def assert_server_holds_each_scan_once(
    server: Server, journeys: dict[str, list[Scan]]
) -> None:
    expected = {number: expected_document(scans) for number, scans in journeys.items()}
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=20.0) as http:
        differences = await settle(http, expected, within=30.0)
    assert not differences.mismatches, differences.describe()
    assert "Traceback" not in server.log_text(), server.log_tail()


async def test_server_killed_mid_flush_loses_and_doubles_nothing(
    server_factory: ServerFactory, rng: random.Random, tmp_path: Path
) -> None:
    server = server_factory()
    key = await asyncio.to_thread(create_key, server.data_dir, "handheld", "scans:write")
    await asyncio.to_thread(server.start)
    pool, journeys = workload(rng)
    backoff = Backoff(first=0.05, ceiling=0.5, rng=random.Random(rng.randrange(2**32)))
    client = Client(server.base_url, key, tmp_path / "buffer.db", batch_size=50, backoff=backoff)
    client.add_many(pool)
    assert client.pending == len(pool)

    kill_at = sorted((rng.uniform(0.1, 0.85) for _ in range(4)), reverse=True)
    kills: list[str] = []

    async def killer() -> None:
        for share in kill_at:
            await wait_until(lambda s=share: client.pending <= s * len(pool), within=60)
            await asyncio.sleep(rng.uniform(0.0, 0.02))
            kills.append(f"at {client.pending} pending")
            await asyncio.to_thread(server.kill)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            await asyncio.to_thread(server.start)

    try:
        async with asyncio.timeout(120):
            flushing = asyncio.to_thread(client.flush, None)
            result, _ = await asyncio.gather(flushing, killer())
        print("kills:", kills, result)
        assert len(kills) == 4
        assert result.pending == 0
        assert client.pending == 0
        assert client.rejected() == []
        # Whatever was resent after a kill was absorbed by the server's dedup.
        assert result.accepted <= len(pool)
        assert result.accepted + result.duplicates == result.sent
    finally:
        client.close()
    await assert_server_holds_each_scan_once(server, journeys)


def kill_flusher_midway(command: list[str], buffer: Path, pending_below: int) -> None:
    """Start a flushing client process and SIGKILL it once the buffer is down to a level."""
    flusher = subprocess.Popen(command, env=child_env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while pending_in(buffer) > pending_below:
            assert flusher.poll() is None, flusher.stderr.read() if flusher.stderr else ""
            assert time.monotonic() < deadline, "the client made no progress"
            time.sleep(0.005)
    finally:
        flusher.kill()
        flusher.wait()
    assert flusher.returncode == -9


_FLUSHER = """
import sys
from parcelstream.client import Backoff, Client
client = Client(sys.argv[1], sys.argv[2], sys.argv[3], batch_size=25, backoff=Backoff(first=0.05))
result = client.flush(timeout=None)
print("flushed", result)
"""


async def test_client_killed_mid_flush_and_restarted_loses_nothing(
    server_factory: ServerFactory, rng: random.Random, tmp_path: Path
) -> None:
    server = server_factory()
    key = await asyncio.to_thread(create_key, server.data_dir, "handheld", "scans:write")
    await asyncio.to_thread(server.start)
    pool, journeys = workload(rng)
    buffer = tmp_path / "buffer.db"
    with Client(server.base_url, key, buffer) as client:
        client.add_many(pool)

    command = [sys.executable, "-c", textwrap.dedent(_FLUSHER), server.base_url, key, str(buffer)]
    for share in sorted((rng.uniform(0.15, 0.85) for _ in range(3)), reverse=True):
        await asyncio.to_thread(kill_flusher_midway, command, buffer, round(share * len(pool)))
    final = await asyncio.to_thread(
        subprocess.run, command, env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    assert pending_in(buffer) == 0
    await assert_server_holds_each_scan_once(server, journeys)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 16
PDF = b"%PDF-1.7\n" + b"x" * 100


async def test_deliveries_with_proof_files_survive_a_restart_and_reach_the_server(
    server_factory: ServerFactory, rng: random.Random, tmp_path: Path
) -> None:
    server = server_factory()
    key = await asyncio.to_thread(create_key, server.data_dir, "handheld", "scans:write")
    numbers = ups_numbers(rng, 4)
    signature = tmp_path / "signature.png"
    signature.write_bytes(PNG)
    when = recent_start(days_ago=1)
    buffer = tmp_path / "buffer.db"
    with Client(server.base_url, key, buffer) as client:
        for n, number in enumerate(numbers[:3]):
            client.deliver(
                number,
                "ATL-RT-114",
                timestamp=when + timedelta(minutes=n),
                employee_id="E1042",
                signed_by="D. Whitfield",
                left_at="Front door",
                gps=(33.7537, -84.3863, 8.5),
                signature=signature,
                photos=[JPEG, PNG],
            )
        client.deliver(numbers[3], "ATL-RT-114", timestamp=when, photos=[PDF])
    signature.unlink()  # the buffer holds its own copies

    await asyncio.to_thread(server.start)
    with Client(server.base_url, key, buffer, backoff=Backoff(first=0.05)) as client:
        assert client.pending == 4
        result = await asyncio.to_thread(client.flush)
        assert (result.proofs, result.accepted, result.rejected, result.pending) == (3, 3, 1, 0)
        [refused] = client.rejected()
        assert refused.scan["tracking_number"] == numbers[3]
        assert refused.errors[0]["code"] == "unsupported_media_type"
        assert "PDF" in refused.errors[0]["reason"]
        assert [f.path.read_bytes() for f in refused.files] == [PDF]
        client.forget_rejected([refused])
    assert list((tmp_path / "buffer.db.files").iterdir()) == []

    async with httpx2.AsyncClient(base_url=server.base_url, timeout=20.0) as http:
        for number in numbers[:3]:
            for _ in range(200):
                document = (await http.get(f"/v1/track/{number}")).json()
                if document.get("status") == "DELIVERED":
                    break
                await asyncio.sleep(0.05)
            proof = document["proof_of_delivery"]
            assert proof["available"] is True
            assert (proof["signature"], proof["photos"], proof["left_at"]) == (
                True,
                2,
                "Front door",
            )


def send_half_a_batch(port: int, key: str) -> None:
    """A handheld that dies mid-upload: headers and part of the body, then the socket closes."""
    head = (
        "POST /v1/scans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: 100000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + b'{"scans": [{"tracking_number": "1Z')
        time.sleep(0.2)  # let the server start reading the body


async def test_a_client_gone_mid_upload_leaves_the_server_log_clean(
    server_factory: ServerFactory,
) -> None:
    server = server_factory()
    key = await asyncio.to_thread(create_key, server.data_dir, "handheld", "scans:write")
    await asyncio.to_thread(server.start)
    for _ in range(3):
        await asyncio.to_thread(send_half_a_batch, server.port, key)
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        assert (await http.get("/healthz")).status_code == 200
    await asyncio.sleep(0.2)
    assert "Traceback" not in server.log_text(), server.log_tail()
