"""kill -9 while scanners stream in: every acknowledged scan survives, exactly once.

Several clients post ~3000 scans of 300 packages (out of order, in batches of 50-200, some
acknowledged batches deliberately sent again) while the server is SIGKILLed at random points of
the stream and restarted on the same data folder and port. Batches whose outcome is unknown (the
connection failed) are sent again once the server is back, as a real client would. At the end
each package's history must hold every scan exactly once, and its status must be the one the
whole set of scans implies. E2E_SEED=<n> replays the same data, batches and kill points.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import httpx2
import pytest

from .harness import Server, ServerFactory, create_key
from .streaming import Streamer, wait_until
from .workload import chunks, expected_document, journey, recent_start, settle, ups_numbers

pytestmark = pytest.mark.slow

PACKAGES = 300
CLIENTS = 4


async def test_acknowledged_scans_survive_sigkill(
    server_factory: ServerFactory, rng: random.Random
) -> None:
    server: Server = server_factory()
    key = await asyncio.to_thread(create_key, server.data_dir, "scanners", "scans:write")
    await asyncio.to_thread(server.start)

    start = recent_start(days_ago=6)
    journeys = {
        number: journey(
            rng, number, start + timedelta(minutes=rng.randint(0, 900)), rng.randint(8, 12)
        )
        for number in ups_numbers(rng, PACKAGES)
    }
    pool = [scan for scans in journeys.values() for scan in scans]
    rng.shuffle(pool)
    batches = chunks(rng, pool, 50, 200)
    expected = {number: expected_document(scans) for number, scans in journeys.items()}
    resend = rng.sample(range(len(batches)), k=max(3, len(batches) // 6))
    # Kill points as shares of the stream, so they fall inside it however fast this machine is;
    # one more kill comes right after the last acknowledgement, while the processor catches up.
    kill_points = sorted(rng.uniform(0.08, 0.9) for _ in range(rng.randint(3, 4)))
    kill_delays = [rng.uniform(0.0, 0.04) for _ in kill_points]
    down_times = [rng.uniform(0.0, 0.2) for _ in range(len(kill_points) + 1)]

    streamer = Streamer(
        server.base_url,
        key,
        batches,
        clients=CLIENTS,
        retry=True,
        resend=resend,
        pace=(0.0, 0.03),
        seed=rng.randrange(2**32),
    )
    kills: list[str] = []

    async def crash(reason: str, down: float) -> None:
        in_flight = streamer.in_flight
        server.kill()
        kills.append(f"{reason} ({in_flight} requests in flight)")
        await asyncio.sleep(down)
        await asyncio.to_thread(server.start)

    async def killer() -> None:
        for point, delay, down in zip(kill_points, kill_delays, down_times, strict=False):
            # ...and only once the clients are streaming again after the previous restart
            threshold = max(1, round(point * len(batches)))
            acked = len(streamer.acked)
            # A late kill point can outrun a short stream: once every batch is in, the kill
            # right after the last acknowledgement (below) is the one left to do.
            await wait_until(
                lambda t=threshold, a=acked: (
                    streamer.finished or (streamer.dispatched >= t and len(streamer.acked) > a)
                ),
                within=60,
            )
            if streamer.finished:
                return
            await asyncio.sleep(delay)
            await crash(f"kill at batch {streamer.dispatched}/{len(batches)}", down)

    print(
        f"{len(pool)} scans of {PACKAGES} packages in {len(batches)} batches; kill points {kill_points}"
    )
    async with asyncio.timeout(90):
        await asyncio.gather(streamer.run(), killer())
        await crash("kill right after the last acknowledgement", down_times[-1])

    print("kills:", *kills, sep="\n  ")
    print(streamer.summary())
    assert not streamer.problems, "\n".join(streamer.problems[:20])
    assert streamer.acked == set(range(len(batches))), streamer.summary()
    assert len(kills) >= 4

    async with httpx2.AsyncClient(base_url=server.base_url, timeout=20.0) as client:
        differences = await settle(client, expected, within=30.0)
    assert not differences.mismatches, differences.describe() + "\n" + streamer.summary()

    assert server.running
    log = server.log_text()
    assert "Traceback" not in log, server.log_tail()
