"""CPU per provider send for the providers' client (aiohttp) and httpx2, against the local Twilio
fake, in one run.

    python bench/http_client.py [--sends 2000] [--in-flight 64]

Measures what the notifier's providers pay per HTTP call (client and fake share the process, so
the figure is their sum); after a discarded warm-up round each, alternates the clients three
times so noise hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parcelstream.notify.providers.transport import HttpClient, Timeout
from tests.providers.fakes import FakeTwilio

FORM = {"To": "+14045550199", "From": "+15005550006", "Body": "Out for delivery."}
Sender = Callable[[FakeTwilio, int, int], Awaitable[tuple[float, float]]]


def _url(fake: FakeTwilio) -> str:
    return f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"


async def _timed(
    sends: int, in_flight: int, one: Callable[[], Awaitable[int]]
) -> tuple[float, float]:
    slots = asyncio.Semaphore(in_flight)

    async def limited() -> None:
        async with slots:
            status = await one()
            assert status == 201, status

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(limited() for _ in range(sends)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / sends * 1000, sends / wall


async def _providers_client(fake: FakeTwilio, sends: int, in_flight: int) -> tuple[float, float]:
    client = HttpClient(Timeout(10.0, connect=2.0))
    auth = (fake.account_sid, fake.auth_token)

    async def one() -> int:
        return (await client.post(_url(fake), data=FORM, auth=auth)).status_code

    try:
        return await _timed(sends, in_flight, one)
    finally:
        await client.aclose()


async def _httpx2(fake: FakeTwilio, sends: int, in_flight: int) -> tuple[float, float]:
    client = httpx2.AsyncClient(timeout=httpx2.Timeout(10.0, connect=2.0))
    auth = (fake.account_sid, fake.auth_token)

    async def one() -> int:
        return (await client.post(_url(fake), data=FORM, auth=auth)).status_code

    try:
        return await _timed(sends, in_flight, one)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args()
    clients: dict[str, Sender] = {"aiohttp": _providers_client, "httpx2": _httpx2}
    with FakeTwilio() as fake:
        # One discarded round each: the first sends in a process pay for imports and warm-up.
        for sender in clients.values():
            asyncio.run(sender(fake, 200, args.in_flight))
            fake.reset()
        for _ in range(3):
            for name, sender in clients.items():
                ms, rate = asyncio.run(sender(fake, args.sends, args.in_flight))
                fake.reset()
                print(f"{name:7} {ms:.2f} ms CPU per send, {rate:,.0f} sends/s")


if __name__ == "__main__":
    main()
