"""Concurrent scanner clients for the crash and shutdown tests.

Each client takes the next batch, posts it, and keeps a ledger: which batches were acknowledged
(a 200: durably in the log), which had an attempt whose outcome is unknown (connection refused,
reset, timeout), and every answer that breaks the API contract. In `retry` mode a failed batch is
sent again until acknowledged, as a real scanner would after the server comes back; otherwise the
first failure halts the stream (the server is going away).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence

import httpx2

from .workload import Scan


class Streamer:
    def __init__(
        self,
        base_url: str,
        key: str,
        batches: Sequence[list[Scan]],
        *,
        clients: int,
        retry: bool,
        resend: Sequence[int] = (),
        maybe_sent: Sequence[int] = (),
        pace: tuple[float, float] = (0.0, 0.02),
        seed: int = 0,
    ) -> None:
        self.base_url = base_url
        self.key = key
        self.batches = batches
        self.clients = clients
        self.retry = retry
        self.pace = pace
        self._jitter = random.Random(seed)
        self.dispatched = 0
        """Batches taken for their first send so far."""
        self.acked: set[int] = set()
        self.unknown: set[int] = set(maybe_sent)
        """Batches with at least one attempt of unknown outcome (acknowledged later or not)."""
        self.unresolved: set[int] = set()
        """Batches whose latest attempt failed: not acknowledged."""
        self.committed_before_ack = 0
        """Unknown-outcome batches whose resend showed the first attempt had reached the log."""
        self.resends_sent = 0
        self.in_flight = 0
        """Requests sent and not yet answered."""
        self.transport_errors: Counter[str] = Counter()
        self.problems: list[str] = []
        self.halted = False
        self.finished = False
        self._resend_plan = set(resend)
        self._resend_queue: list[int] = []

    @property
    def unsent(self) -> list[int]:
        return list(range(self.dispatched, len(self.batches)))

    def summary(self) -> str:
        return (
            f"{len(self.batches)} batches, {len(self.acked)} acknowledged,"
            f" {len(self.unknown)} with an unknown-outcome attempt"
            f" ({self.committed_before_ack} of them had in fact been stored),"
            f" {len(self.unresolved)} unresolved, {len(self.unsent)} unsent,"
            f" {self.resends_sent} deliberate resends, transport errors"
            f" {dict(self.transport_errors)}"
        )

    async def run(self) -> None:
        limits = httpx2.Limits(max_connections=self.clients)
        async with httpx2.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=httpx2.Timeout(20.0),
            limits=limits,
        ) as client:
            try:
                await asyncio.gather(*(self._client(client) for _ in range(self.clients)))
            finally:
                self.finished = True

    def _take(self) -> tuple[int, str] | None:
        more_new = self.dispatched < len(self.batches)
        if self._resend_queue and (not more_new or self._jitter.random() < 0.3):
            return self._resend_queue.pop(0), "resend"
        if more_new:
            self.dispatched += 1
            return self.dispatched - 1, "first"
        return None

    async def _client(self, client: httpx2.AsyncClient) -> None:
        while not self.halted:
            taken = self._take()
            if taken is None:
                return
            if not await self._send(client, *taken):
                return
            await asyncio.sleep(self._jitter.uniform(*self.pace))

    async def _send(self, client: httpx2.AsyncClient, index: int, purpose: str) -> bool:
        batch = self.batches[index]
        attempt = 0
        while True:
            attempt += 1
            where = f"batch {index} ({purpose}, attempt {attempt}, {len(batch)} scans)"
            self.in_flight += 1
            try:
                response = await client.post("/v1/scans", json={"scans": batch})
            except httpx2.TransportError as exc:
                self.transport_errors[type(exc).__name__] += 1
            else:
                if response.status_code == 200:
                    self._acknowledged(index, purpose, response.json(), where)
                    return True
                self.problems.append(f"{where}: HTTP {response.status_code} {response.text[:300]}")
            finally:
                self.in_flight -= 1
            if purpose == "first":
                self.unknown.add(index)
                self.unresolved.add(index)
            if not self.retry:
                self.halted = True
                return False
            await asyncio.sleep(self._jitter.uniform(0.03, 0.1))

    def _acknowledged(self, index: int, purpose: str, body: dict[str, object], where: str) -> None:
        size = len(self.batches[index])
        accepted, duplicates = body["accepted"], body["duplicates"]
        if body["rejected"] != 0 or body["errors"]:
            self.problems.append(f"{where}: valid scans refused: {body}")
        if not isinstance(accepted, int) or not isinstance(duplicates, int):
            self.problems.append(f"{where}: counts are not integers: {body}")
            return
        if accepted + duplicates != size:
            self.problems.append(f"{where}: accepted + duplicates != {size}: {body}")
        if purpose == "resend":
            self.resends_sent += 1
            if duplicates != size:
                self.problems.append(
                    f"{where}: a resend of an acknowledged batch was not all duplicates: {body}"
                )
            return
        if index not in self.unknown and duplicates != 0:
            self.problems.append(f"{where}: a batch sent once reported duplicates: {body}")
        if index in self.unknown and duplicates:
            self.committed_before_ack += 1
        self.acked.add(index)
        self.unresolved.discard(index)
        if index in self._resend_plan:
            self._resend_queue.append(index)


async def wait_until(predicate: Callable[[], bool], within: float, interval: float = 0.005) -> bool:
    """Poll `predicate` until it returns true; False if `within` seconds pass first."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True
