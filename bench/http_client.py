"""CPU per provider send for httpx and httpx2, against the local Twilio fake, in one run.

    python bench/http_client.py [--sends 2000] [--in-flight 64]

Measures what the notifier's providers pay per HTTP call (client and fake share the process, so
the figure is their sum); after a discarded warm-up round each, alternates the clients three
times so noise hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.providers.fakes import FakeTwilio


async def _sends(module: Any, fake: FakeTwilio, sends: int, in_flight: int) -> tuple[float, float]:
    client = module.AsyncClient(timeout=module.Timeout(10.0, connect=2.0))
    url = f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    slots = asyncio.Semaphore(in_flight)
    form = {"To": "+14045550199", "From": "+15005550006", "Body": "Out for delivery."}

    async def one() -> None:
        async with slots:
            answer = await client.post(url, data=form, auth=(fake.account_sid, fake.auth_token))
            assert answer.status_code == 201, answer.text

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(sends)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await client.aclose()
    return cpu / sends * 1000, sends / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args()
    modules = {}
    for name in ("httpx", "httpx2"):
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            print(f"{name}: not installed")
    with FakeTwilio() as fake:
        # One discarded round each: the first sends in a process pay for imports and warm-up.
        for module in modules.values():
            asyncio.run(_sends(module, fake, 200, args.in_flight))
            fake.reset()
        for _ in range(3):
            for name, module in modules.items():
                ms, rate = asyncio.run(_sends(module, fake, args.sends, args.in_flight))
                fake.reset()
                print(f"{name:7} {ms:.2f} ms CPU per send, {rate:,.0f} sends/s")


if __name__ == "__main__":
    main()
