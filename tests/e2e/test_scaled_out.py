"""The scaled-out shape with real processes: `parcelstream api` and two `parcelstream processor`s
over PostgreSQL, NATS JetStream and Redis.

- kill -9 one of two processors while 20,000 scans stream in: every accepted scan ends in the
  history exactly once and every status is right (the survivor takes over what was in flight).
- Redis killed, then frozen, while lookups run: lookups keep answering from PostgreSQL, and scans
  processed during the outages reach Redis once it answers again (the cache outbox), so it never
  keeps serving a stale document.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx2
import nats
import pytest
from redis.asyncio import Redis

from tests.backends.postgres import fresh_database
from tests.backends.redis import RedisServer, delete_prefix, private_redis, shared_redis_url

from .harness import Server, ServerFactory, child_env, create_key
from .streaming import Streamer, wait_until
from .workload import (
    Scan,
    chunks,
    expected_document,
    journey,
    recent_start,
    settle,
    ups_numbers,
)

pytestmark = pytest.mark.slow

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def scaled_env() -> AsyncIterator[dict[str, str]]:
    """Fresh database, stream and key prefix for one test; all removed afterwards."""
    stream = f"PSE2E_{uuid.uuid4().hex[:12].upper()}"
    prefix = f"pse2e:{uuid.uuid4().hex[:10]}:"
    async with fresh_database() as database_url:
        yield {
            "PARCELSTREAM_DATABASE_URL": database_url,
            # A short ack wait, so a killed processor's unacknowledged batch comes back quickly.
            "PARCELSTREAM_LOG_URL": f"{NATS_URL}?stream={stream}&ack_wait=3",
            "PARCELSTREAM_REDIS_URL": f"{shared_redis_url()}?prefix={prefix}",
            "PARCELSTREAM_SIGNING_SECRET": "e2e-" + uuid.uuid4().hex,
        }
        connection = await nats.connect(NATS_URL)
        try:
            for name in (stream, f"{stream}_DEAD"):
                # Never created (a dead-letter stream, say): nothing to remove.
                with contextlib.suppress(Exception):
                    await connection.jetstream().delete_stream(name)
        finally:
            await connection.close()
        client = Redis.from_url(shared_redis_url())
        try:
            await delete_prefix(client, prefix)
        finally:
            await client.aclose()


def start_shape(
    make: ServerFactory, env: dict[str, str], processors: int = 2
) -> tuple[Server, list[Server], str]:
    api = make("api", command=("api", "--workers", "2"), env=env)
    key = create_key(api.data_dir, "scanners", "scans:write", env=env)
    api.start()
    workers = [make(f"processor-{n}", command=("processor",), env=env) for n in range(processors)]
    for worker in workers:
        worker.start()
    return api, workers, key


async def test_killing_one_of_two_processors_loses_and_duplicates_nothing(
    server_factory: ServerFactory, scaled_env: dict[str, str], rng: random.Random
) -> None:
    api, (victim, survivor), key = await asyncio.to_thread(start_shape, server_factory, scaled_env)
    start = recent_start(days_ago=5)
    journeys = {
        number: journey(rng, number, start + timedelta(minutes=rng.randint(0, 600)), 10)
        for number in ups_numbers(rng, 2000)
    }
    pool = [scan for scans in journeys.values() for scan in scans]
    rng.shuffle(pool)
    batches = chunks(rng, pool, 200, 400)
    expected = {number: expected_document(scans) for number, scans in journeys.items()}
    streamer = Streamer(
        api.base_url, key, batches, clients=4, retry=True, resend=[], pace=(0.0, 0.01), seed=1
    )

    async def kill_one_mid_stream() -> None:
        await wait_until(lambda: len(streamer.acked) >= len(batches) // 3, within=120)
        await asyncio.to_thread(victim.kill)

    async with asyncio.timeout(180):
        await asyncio.gather(streamer.run(), kill_one_mid_stream())
    assert not streamer.problems, "\n".join(streamer.problems[:20])
    assert streamer.acked == set(range(len(batches))), streamer.summary()
    assert len(pool) == 20_000

    async with httpx2.AsyncClient(base_url=api.base_url, timeout=20.0) as client:
        differences = await settle(client, expected, within=90.0)
    assert not differences.mismatches, differences.describe()
    assert survivor.running
    assert "Traceback" not in survivor.log_text(), survivor.log_tail()


async def test_lookups_survive_a_redis_outage_and_redis_catches_up(
    server_factory: ServerFactory, scaled_env: dict[str, str], tmp_path: Path, rng: random.Random
) -> None:
    async with private_redis(tmp_path / "redis") as redis_server:
        env = {**scaled_env, "PARCELSTREAM_REDIS_URL": f"{redis_server.url}?prefix=outage:"}
        api, _, key = await asyncio.to_thread(start_shape, server_factory, env, 1)
        start = recent_start(days_ago=3)
        journeys = {
            number: journey(rng, number, start + timedelta(minutes=rng.randint(0, 300)), 8)
            for number in ups_numbers(rng, 200)
        }
        early = {n: scans[:4] for n, scans in journeys.items()}
        middle = [scan for scans in journeys.values() for scan in scans[4:6]]
        late = [scan for scans in journeys.values() for scan in scans[6:]]

        async with httpx2.AsyncClient(base_url=api.base_url, timeout=10.0) as client:
            await _post(client, key, [scan for scans in early.values() for scan in scans])
            settled = await settle(
                client, {n: expected_document(s) for n, s in early.items()}, within=30
            )
            assert not settled.mismatches, settled.describe()

            stop = asyncio.Event()
            lookups = asyncio.create_task(_lookups_until(client, list(journeys), stop))
            await asyncio.sleep(0.5)
            await redis_server.kill()
            await _post(client, key, middle)  # processed while Redis is down
            await asyncio.sleep(2.0)
            await redis_server.start()  # back, and empty: lookups refill it lazily
            await asyncio.sleep(1.0)
            # Frozen, Redis keeps what it has: once thawed it holds documents older than
            # PostgreSQL's, and only the cache outbox can bring them up to date.
            redis_server.freeze()
            await _post(client, key, late)
            await asyncio.sleep(2.0)
            redis_server.thaw()
            await asyncio.sleep(0.5)
            stop.set()
            answered, slowest = await lookups
            assert answered > 100
            assert slowest < 1.0, f"a lookup took {slowest:.2f} s during the outage"

            settled = await settle(
                client, {n: expected_document(s) for n, s in journeys.items()}, within=30
            )
            assert not settled.mismatches, settled.describe()

        # Redis itself caught up: the cache outbox repaired what the outage left stale.
        await _redis_holds_latest(redis_server, list(journeys), api.base_url)

        # Redis loses everything: `parcelstream rebuild-read-model` refills it from PostgreSQL.
        await redis_server.kill()
        await redis_server.start()
        rebuilt = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "parcelstream.cli", "rebuild-read-model"],
            env={**child_env(), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert f"copied {len(journeys)} documents" in rebuilt.stdout
        client = Redis.from_url(redis_server.url)
        try:
            keys = [key async for key in client.scan_iter("outage:doc:*")]
            assert len(keys) == len(journeys)
        finally:
            await client.aclose()


async def _post(client: httpx2.AsyncClient, key: str, scans: list[Scan]) -> None:
    for start in range(0, len(scans), 500):
        body = {"scans": scans[start : start + 500]}
        response = await client.post(
            "/v1/scans", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text


async def _lookups_until(
    client: httpx2.AsyncClient, numbers: list[str], stop: asyncio.Event
) -> tuple[int, float]:
    answered, slowest = 0, 0.0

    async def reader() -> None:
        nonlocal answered, slowest
        while not stop.is_set():
            began = time.monotonic()
            response = await client.get(f"/v1/track/{random.choice(numbers)}")
            slowest = max(slowest, time.monotonic() - began)
            assert response.status_code == 200, response.text
            answered += 1

    await asyncio.gather(*(reader() for _ in range(8)))
    return answered, slowest


async def _redis_holds_latest(server: RedisServer, numbers: list[str], base_url: str) -> None:
    client = Redis.from_url(server.url)
    try:
        async with httpx2.AsyncClient(base_url=base_url, timeout=10.0) as http:

            async def all_current() -> bool:
                for number in numbers:
                    cached = await client.hget(f"outage:doc:{number}", "e")
                    served = (await http.get(f"/v1/track/{number}")).headers["etag"]
                    if cached is None or cached.decode() != served:
                        return False
                return True

            deadline = time.monotonic() + 30
            while not await all_current():
                assert time.monotonic() < deadline, "Redis never caught up with PostgreSQL"
                await asyncio.sleep(0.5)
    finally:
        await client.aclose()
