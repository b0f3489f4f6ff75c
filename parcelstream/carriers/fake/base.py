"""What the three fake carriers share: journeys and a controllable clock, client-credentials
tokens that expire, injected faults, and pushing (with retries and a missed-events queue)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parcelstream.carriers.fake.journeys import Event, Journey

log = logging.getLogger(__name__)


class FakeClock:
    """Journey time: starts at `start`, runs `scale` times faster than real time, and can be
    moved forward (never back) by the admin route."""

    def __init__(self, start: datetime, scale: float = 0.0) -> None:
        self._start = start
        self._scale = scale
        self._t0 = time.monotonic()
        self._advanced = 0.0

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._t0) * self._scale + self._advanced
        return self._start + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        self._advanced += max(0.0, seconds)

    def move_to(self, moment: datetime) -> None:
        self.advance((moment - self.now()).total_seconds())


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    retry_after: str | None = None
    malformed: bool = False


@dataclass
class PushOptions:
    webhook_url: str | None = None
    secret: str | None = None
    """FedEx security token or USPS HMAC secret."""
    token_url: str | None = None
    """UPS v2: our token endpoint, called with `client_id`/`client_secret` (HTTP Basic)."""
    client_id: str | None = None
    client_secret: str | None = None
    duplicate: bool = False
    reorder: bool = False
    retries: int | None = None
    """Attempts after the first on a failed push (carrier default when None)."""
    retry_interval: float = 300.0


@dataclass
class Stats:
    token_requests: int = 0
    tokens_refused: int = 0
    track_requests: int = 0
    track_times: list[float] = field(default_factory=list)
    """time.monotonic() of each tracking request, for checking backoff."""
    track_tokens: dict[str, int] = field(default_factory=dict)
    """Tracking requests per bearer token: which clients polled, and how much."""
    tracked: list[str] = field(default_factory=list)
    faults_served: int = 0
    pushes: int = 0
    push_failures: int = 0
    subscribe_requests: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Push:
    """One push as the carrier sends it: body bytes and headers (auth added at send time)."""

    body: bytes
    headers: dict[str, str]


class FakeCarrier:
    """Subclasses give the carrier's routes, bodies and push authentication."""

    carrier = ""
    token_path = ""
    token_lifetime = 3600.0
    default_retries = 0

    def __init__(
        self,
        *,
        client_id: str = "fake-client",
        client_secret: str = "fake-secret",
        clock: FakeClock | None = None,
        push: PushOptions | None = None,
        token_lifetime: float | None = None,
        subscription_seconds: float = 14 * 86_400,
        require_subscription: bool = False,
        not_found_as_warning: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock or FakeClock(datetime.now(UTC), 0.0)
        self.push = push or PushOptions()
        if token_lifetime is not None:
            self.token_lifetime = token_lifetime
        self.subscription_seconds = subscription_seconds
        self.require_subscription = require_subscription
        self.not_found_as_warning = not_found_as_warning
        self.journeys: dict[str, Journey] = {}
        self.pushed: dict[str, int] = {}
        self.subscriptions: dict[str, float] = {}
        """Tracking number -> monotonic time its push subscription lapses."""
        self.lapsed: list[str] = []
        """Numbers whose subscription ran out while the package still moved."""
        self.missed: list[Push] = []
        self.stats = Stats()
        self._tokens: dict[str, float] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._sticky: dict[str, Fault] = {}
        self._their_token: tuple[str, float] | None = None
        self._retrying: set[asyncio.Task[None]] = set()

    # -- journeys and time ---------------------------------------------------------------------

    def add_journey(self, journey: Journey) -> None:
        self.journeys[journey.tracking_number] = journey
        self.pushed.setdefault(journey.tracking_number, 0)

    def released(self, tracking_number: str) -> list[Event] | None:
        journey = self.journeys.get(tracking_number)
        if journey is None:
            return None
        return journey.released(self.clock.now())

    # -- tokens --------------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = "fk-" + secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        return token

    def bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        expires = self._tokens.get(token)
        if expires is None or expires < time.monotonic():
            self.stats.tokens_refused += 1
            return False
        self.stats.track_tokens[token] = self.stats.track_tokens.get(token, 0) + 1
        return True

    def revoke_tokens(self) -> int:
        """Forget every token issued: the next API call with one gets a 401."""
        revoked = len(self._tokens)
        self._tokens.clear()
        return revoked

    def credentials_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return secrets.compare_digest(
            f"{client_id}:{client_secret}", f"{self.client_id}:{self.client_secret}"
        )

    # -- faults --------------------------------------------------------------------------------

    def add_fault(self, route: str, fault: Fault, count: int | None) -> None:
        """`count` None: every request until cleared."""
        if count is None:
            self._sticky[route] = fault
        else:
            self._faults.setdefault(route, deque()).extend([fault] * count)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._sticky.clear()
        self.push.duplicate = self.push.reorder = False

    async def faulted(self, route: str) -> Response | None:
        """Apply the next fault for `route`: sleep, then a refusal or a malformed body."""
        queue = self._faults.get(route)
        fault = queue.popleft() if queue else self._sticky.get(route)
        if fault is None:
            return None
        self.stats.faults_served += 1
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.malformed:
            return Response(b'{"trackResponse": {"shipment": [', 200, media_type="application/json")
        if fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return JSONResponse(self.error_body(fault.status), fault.status, headers)
        return None

    # -- for subclasses ------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def error_body(self, status: int, code: str | None = None, message: str | None = None) -> Any:
        raise NotImplementedError

    def pushes_for(self, journey: Journey, released: list[Event], new: list[Event]) -> list[Push]:
        raise NotImplementedError

    async def authenticate_push(self, client: httpx2.AsyncClient, push: Push) -> dict[str, str]:
        return {}

    # -- pushing -------------------------------------------------------------------------------

    async def push_due(self, client: httpx2.AsyncClient) -> int:
        """Send a push for every event that happened since the last round; returns how many."""
        if not self.push.webhook_url:
            return 0
        sent = 0
        for tn, journey in list(self.journeys.items()):
            released = journey.released(self.clock.now())
            done = self.pushed.get(tn, 0)
            if len(released) <= done:
                continue
            self.pushed[tn] = len(released)
            if self.require_subscription and not self._subscribed(tn):
                continue
            new = released[done:]
            pushes = self.pushes_for(journey, released, new)
            if self.push.reorder:
                pushes.reverse()
            for push in pushes:
                for _ in range(2 if self.push.duplicate else 1):
                    await self._deliver(client, push)
                    sent += 1
        return sent

    def _subscribed(self, tn: str) -> bool:
        until = self.subscriptions.get(tn)
        if until is None:
            return False
        if until < time.monotonic():
            self.lapsed.append(tn)
            return False
        return True

    async def _deliver(self, client: httpx2.AsyncClient, push: Push) -> bool:
        """Send once; a failure is retried in the background as the carrier does (FedEx: 3
        times, 5 minutes apart), then parked in the missed-events queue."""
        if await self._attempt(client, push):
            return True
        retries = self.default_retries if self.push.retries is None else self.push.retries
        if retries:
            task = asyncio.create_task(self._retry(client, push, retries))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)
        else:
            self.missed.append(push)
        return False

    async def _retry(self, client: httpx2.AsyncClient, push: Push, retries: int) -> None:
        for _ in range(retries):
            await asyncio.sleep(self.push.retry_interval)
            if await self._attempt(client, push):
                return
        self.missed.append(push)

    async def _attempt(self, client: httpx2.AsyncClient, push: Push) -> bool:
        try:
            headers = {**push.headers, **await self.authenticate_push(client, push)}
            response = await client.post(
                self.push.webhook_url or "", content=push.body, headers=headers
            )
            self.stats.pushes += 1
            if response.status_code in (200, 202):
                return True
            log.warning("%s push answered %d", self.carrier, response.status_code)
        except (httpx2.HTTPError, OSError, KeyError, ValueError) as exc:
            log.warning("%s push failed: %r", self.carrier, exc)
        self.stats.push_failures += 1
        return False

    async def push_loop(self, stop: asyncio.Event, every: float = 0.05) -> None:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10.0)) as client:
            try:
                while not stop.is_set():
                    try:
                        await self.push_due(client)
                    except Exception:
                        log.exception("%s push round failed", self.carrier)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), every)
            finally:
                for task in list(self._retrying):
                    task.cancel()

    async def replay_missed(self) -> int:
        missed, self.missed = self.missed, []
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10.0)) as client:
            delivered = [await self._attempt(client, push) for push in missed]
        self.missed.extend(p for p, ok in zip(missed, delivered, strict=True) if not ok)
        return sum(delivered)

    async def our_token(self, client: httpx2.AsyncClient) -> str:
        """UPS v2: a token from the receiver's own token URL, cached until near its expiry."""
        cached = self._their_token
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        response = await client.post(
            self.push.token_url or "",
            data={"grant_type": "client_credentials"},
            auth=(self.push.client_id or "", self.push.client_secret or ""),
        )
        response.raise_for_status()
        body = response.json()
        lifetime = float(body.get("expires_in", 300))
        self._their_token = (body["access_token"], time.monotonic() + lifetime * 0.9)
        return str(body["access_token"])


async def form_of(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (without Starlette's multipart dependency)."""
    return dict(
        parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    )


def basic_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password


Handler = Callable[[Request], Awaitable[Response]]
