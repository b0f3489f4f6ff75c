"""Sends a scenario to a running server: each package registered (POST /v1/packages) before any
scan of it, scans in batches (POST /v1/scans) paced at a rate or as fast as the server
acknowledges, a facility's batch upload kept in one request, and failed requests retried."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import msgspec

from parcelstream.sim.scenario import Event, SimPackage, SimScan

MAX_SCANS_PER_REQUEST = 5000
"""The server's default cap on one POST /v1/scans."""
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_PACED_BATCH_SECONDS = 0.1
"""At a set rate, one request every ~100 ms: 300 scans a request at 3,000 scans/s (fewer, larger
requests cost the server less per scan)."""


class DriveFailed(Exception):
    """The server could not be reached, kept failing, or refused our key: the run is incomplete."""


@dataclass(slots=True)
class Summary:
    packages: int = 0
    """Registrations the server accepted."""
    packages_rejected: int = 0
    scans_sent: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    requests: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    """The first few reasons the server gave for refusing something."""

    @property
    def rate(self) -> float:
        """Scans acknowledged per second of wall time."""
        done = self.accepted + self.rejected + self.duplicates
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def note(self, reason: str) -> None:
        if len(self.errors) < 10 and reason not in self.errors:
            self.errors.append(reason)


@dataclass(frozen=True, slots=True)
class Pacing:
    rate: float | None = None
    """Scans offered per second (open loop); None: as fast as the server acknowledges."""
    batch: int = 500
    """Most scans per request when not paced."""
    in_flight: int | None = None
    """Scan requests outstanding at once; by default 8 when paced (an open loop must not wait
    on one slow answer) and 4 when not. Few connections keep the client cheap: the pool checks
    every idle connection on each request."""
    registrations_in_flight: int = 8
    retries: int = 7
    """Resends of a request that failed in transit or with 429/5xx, backing off from 0.1 s to
    5 s, before the run is given up."""

    @property
    def scans_per_request(self) -> int:
        if self.rate is None:
            return self.batch
        return max(1, min(self.batch, round(self.rate * _PACED_BATCH_SECONDS)))

    @property
    def scan_requests(self) -> int:
        if self.in_flight is not None:
            return self.in_flight
        return 8 if self.rate is not None else 4


async def drive(
    events: Iterable[Event],
    base_url: str,
    api_key: str,
    pacing: Pacing = Pacing(),
    progress: Callable[[Summary], None] | None = None,
    progress_every_s: float = 5.0,
) -> Summary:
    """Send every event; returns the counts. Raises DriveFailed (with the summary so far as
    `args[1]`) when the server cannot be reached or refuses the key."""
    summary = Summary()
    client = httpx2.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        timeout=httpx2.Timeout(60.0, connect=5.0),
        limits=httpx2.Limits(
            max_connections=pacing.scan_requests + pacing.registrations_in_flight,
            max_keepalive_connections=pacing.scan_requests + pacing.registrations_in_flight,
        ),
    )
    sender = _Sender(client, summary, pacing)
    started = time.perf_counter()
    last_progress = started
    try:
        for request in requests(events, pacing.scans_per_request):
            if isinstance(request, SimPackage):
                sender.register(request)
                continue
            await sender.pace(request)
            now = time.perf_counter()
            if progress is not None and now - last_progress >= progress_every_s:
                summary.elapsed_s = now - started
                progress(summary)
                last_progress = now
        await sender.finish()
    except DriveFailed as exc:
        await sender.abort()
        summary.elapsed_s = time.perf_counter() - started
        raise DriveFailed(str(exc), summary) from exc.__cause__
    finally:
        await client.aclose()
    summary.elapsed_s = time.perf_counter() - started
    return summary


def requests(events: Iterable[Event], size: int) -> Iterator[SimPackage | list[SimScan]]:
    """What to send, in order: each package on its own, scans cut into batches of about `size`.
    Scans sharing a send time (one facility's batch upload, one handheld's flush) are never
    split, up to the server's cap of 5,000 a request."""
    size = max(1, min(size, MAX_SCANS_PER_REQUEST))
    batch: list[SimScan] = []
    for event in events:
        if isinstance(event, SimPackage):
            yield event
            continue
        if len(batch) >= size and (
            event.sent_at != batch[-1].sent_at or len(batch) >= MAX_SCANS_PER_REQUEST
        ):
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


class _Sender:
    def __init__(self, client: httpx2.AsyncClient, summary: Summary, pacing: Pacing) -> None:
        self.client = client
        self.summary = summary
        self.pacing = pacing
        self.slots = asyncio.Semaphore(pacing.scan_requests)
        self.registration_slots = asyncio.Semaphore(pacing.registrations_in_flight)
        self.registrations: dict[str, asyncio.Task[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.failure: DriveFailed | None = None
        self.offered = 0
        self.clock_start: float | None = None
        self.encoder = msgspec.json.Encoder()

    def register(self, package: SimPackage) -> None:
        number = package.body["tracking_number"]
        task = asyncio.create_task(self._register(package))
        self.registrations[number] = task
        self._track(task)

    async def pace(self, batch: list[SimScan]) -> None:
        rate = self.pacing.rate
        if rate is not None:
            now = time.perf_counter()
            if self.clock_start is None:
                self.clock_start = now
            due = self.clock_start + self.offered / rate
            if due > now:
                await asyncio.sleep(due - now)
        await self.slots.acquire()
        if self.failure is not None:
            self.slots.release()
            raise self.failure
        self.offered += len(batch)
        self._track(asyncio.create_task(self._send_scans(batch)))

    async def finish(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.failure is not None:
            raise self.failure

    async def abort(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def _track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        problem = task.exception()
        if problem is not None and self.failure is None:
            # A bug of ours, or an answer we cannot read: stop and say so.
            self.failure = DriveFailed(f"{type(problem).__name__}: {problem}")

    async def _register(self, package: SimPackage) -> None:
        async with self.registration_slots:
            answer = await self._post("/v1/packages", self.encoder.encode(package.body))
        if answer.status_code in (200, 201, 202):
            self.summary.packages += 1
        else:
            self.summary.packages_rejected += 1
            self.summary.note(f"POST /v1/packages {answer.status_code}: {_reason(answer)}")

    async def _send_scans(self, batch: list[SimScan]) -> None:
        try:
            waiting = [
                task
                for scan in batch
                if (task := self.registrations.get(scan.body["tracking_number"])) is not None
                and not task.done()
            ]
            if waiting:
                await asyncio.gather(*waiting, return_exceptions=True)
            body = self.encoder.encode({"scans": [scan.body for scan in batch]})
            self.summary.scans_sent += len(batch)
            answer = await self._post("/v1/scans", body)
            if answer.status_code != 200:
                self.summary.rejected += len(batch)
                self.summary.note(f"POST /v1/scans {answer.status_code}: {_reason(answer)}")
                return
            counts: dict[str, Any] = msgspec.json.decode(answer.content)
            self.summary.accepted += counts["accepted"]
            self.summary.rejected += counts["rejected"]
            self.summary.duplicates += counts["duplicates"]
            for error in counts.get("errors", ())[:3]:
                self.summary.note(f"scan refused: {error.get('field')}: {error.get('reason')}")
        finally:
            self.slots.release()

    async def _post(self, path: str, body: bytes) -> httpx2.Response:
        """POST, retrying connection failures, timeouts, 429 and 5xx with backoff (a resend is
        harmless: the server deduplicates scans and registrations are idempotent)."""
        delay = 0.1
        attempts = self.pacing.retries + 1
        for attempt in range(1, attempts + 1):
            self.summary.requests += 1
            try:
                answer = await self.client.post(path, content=body)
            except httpx2.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if answer.status_code in (401, 403):
                    self._fail(f"{path} answered {answer.status_code}: {_reason(answer)}")
                if answer.status_code not in _RETRY_STATUSES:
                    return answer
                problem = f"{answer.status_code}: {_reason(answer)}"
            if attempt == attempts:
                self._fail(f"{path} failed {attempt} times, last: {problem}")
            self.summary.retries += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def _fail(self, reason: str) -> None:
        failure = DriveFailed(reason)
        if self.failure is None:
            self.failure = failure
        raise failure


def _reason(answer: httpx2.Response) -> str:
    try:
        error = msgspec.json.decode(answer.content)["error"]
        return f"{error.get('field') or ''} {error.get('reason') or ''}".strip()
    except Exception:
        return answer.text[:200]
