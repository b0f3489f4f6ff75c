"""SIGTERM while scans stream in: a clean, quick exit, and nothing acknowledged is lost.

Clients stream batches; partway through, the server gets SIGTERM. It must exit with code 0
within a few seconds and log a clean stop. In-flight requests either finish with a 200 or fail at
the connection level, never with an error answer. After a restart every acknowledged scan is in
its package's history exactly once; then the clients send what was not acknowledged and every
package ends exactly as its scans imply.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from datetime import timedelta
from typing import Any

import httpx2
import pytest

from .harness import Server, ServerFactory, create_key
from .streaming import Streamer, wait_until
from .workload import (
    Scan,
    chunks,
    expected_document,
    journey,
    observed_events,
    recent_start,
    settle,
    ups_numbers,
)

pytestmark = pytest.mark.slow

PACKAGES = 150
CLIENTS = 3
EXIT_WITHIN = 5.0

Key = tuple[str, str, str, str]


def _key(scan: Scan) -> Key:
    return (scan["tracking_number"], scan["timestamp"], scan["status_code"], scan["facility_id"])


async def test_sigterm_while_streaming(server_factory: ServerFactory, rng: random.Random) -> None:
    server: Server = server_factory()
    key = await asyncio.to_thread(create_key, server.data_dir, "scanners", "scans:write")
    await asyncio.to_thread(server.start)

    start = recent_start(days_ago=5)
    journeys = {
        number: journey(rng, number, start + timedelta(minutes=rng.randint(0, 600)), 8)
        for number in ups_numbers(rng, PACKAGES)
    }
    pool = [scan for scans in journeys.values() for scan in scans]
    rng.shuffle(pool)
    batches = chunks(rng, pool, 20, 80)
    stop_point = rng.uniform(0.3, 0.6)
    stop_delay = rng.uniform(0.0, 0.03)

    streamer = Streamer(
        server.base_url,
        key,
        batches,
        clients=CLIENTS,
        retry=False,
        pace=(0.0, 0.02),
        seed=rng.randrange(2**32),
    )
    stopped: dict[str, Any] = {}

    async def terminate() -> None:
        threshold = max(1, round(stop_point * len(batches)))
        await wait_until(lambda: streamer.dispatched >= threshold, within=60)
        await asyncio.sleep(stop_delay)
        stopped["in_flight"] = streamer.in_flight
        began = time.monotonic()
        server.terminate()
        try:
            stopped["code"] = await asyncio.to_thread(server.wait, 30.0)
        except subprocess.TimeoutExpired:
            stopped["code"] = None
        stopped["seconds"] = time.monotonic() - began

    async with asyncio.timeout(60):
        await asyncio.gather(streamer.run(), terminate())
    print(f"SIGTERM with {stopped['in_flight']} requests in flight; {streamer.summary()}")

    # Every check below is collected rather than raised at once, so that one failing (say, the
    # exit code) does not hide whether the data survived.
    problems: list[str] = []
    log = server.log_text(since_last_start=True)
    if stopped["code"] != 0:
        problems.append(f"exit code {stopped['code']} after SIGTERM, expected 0")
    if stopped["seconds"] >= EXIT_WITHIN:
        problems.append(f"took {stopped['seconds']:.1f}s to exit after SIGTERM")
    if "parcelstream stopped cleanly" not in log:
        problems.append("no 'parcelstream stopped cleanly' in the log")
    if "Traceback" in log:
        problems.append("a traceback in the log")
    problems += streamer.problems
    assert streamer.acked, "no batch was acknowledged before the stop: " + streamer.summary()

    # -- after a restart: everything acknowledged, nothing twice, nothing never sent ---------
    await asyncio.to_thread(server.start)
    acked = {_key(scan) for i in streamer.acked for scan in batches[i]}
    maybe = {_key(scan) for i in streamer.unresolved for scan in batches[i]}
    numbers = sorted({key[0] for key in acked | maybe})
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=20.0) as client:
        shown = await _wait_for_acknowledged(client, numbers, acked, within=15.0)
    missing = acked - set(shown)
    twice = {k for k in set(shown) if shown.count(k) > 1}
    unexpected = set(shown) - acked - maybe
    if missing:
        problems.append(f"{len(missing)} acknowledged scans lost, e.g. {sorted(missing)[:5]}")
    if twice:
        problems.append(f"scans shown twice: {sorted(twice)[:5]}")
    if unexpected:
        problems.append(f"scans that were never sent: {sorted(unexpected)[:5]}")

    # -- the clients send what was not acknowledged; everything ends as its scans imply ------
    rest = sorted(streamer.unresolved) + streamer.unsent
    resender = Streamer(
        server.base_url,
        key,
        [batches[i] for i in rest],
        clients=CLIENTS,
        retry=True,
        maybe_sent=[n for n, i in enumerate(rest) if i in streamer.unresolved],
        seed=rng.randrange(2**32),
    )
    async with asyncio.timeout(60):
        await resender.run()
    problems += resender.problems
    if len(resender.acked) != len(rest):
        problems.append("resending: " + resender.summary())
    expected = {number: expected_document(scans) for number, scans in journeys.items()}
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=20.0) as client:
        differences = await settle(client, expected, within=20.0)
    if differences.mismatches:
        problems.append(differences.describe())
    assert not problems, "\n".join(problems) + f"\n\nlog of the stopped run:\n{log}"


async def _wait_for_acknowledged(
    client: httpx2.AsyncClient, numbers: list[str], acked: set[Key], within: float
) -> list[Key]:
    """Every event shown for `numbers` (duplicates kept), once all of `acked` is visible or
    `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        shown: list[Key] = []
        for number in numbers:
            response = await client.get(f"/v1/track/{number}")
            if response.status_code == 404:
                continue
            assert response.status_code == 200, response.text
            shown += [(number, e[0], e[1], e[2]) for e in observed_events(response.json())]
        if acked <= set(shown) or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(0.1)
