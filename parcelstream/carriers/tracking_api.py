"""The carriers' tracking APIs over HTTP: each carrier's request (SPEC §2.2, §3.2, §4.2), its
bearer token, its budget, and its failures sorted into "retry later" and "no data".

The answer is read by the carrier's pure parser, the same one that reads its pushes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx2

from parcelstream.carriers import fedex, ups, usps
from parcelstream.carriers.access import CarrierAccess
from parcelstream.carriers.budget import RequestBudget
from parcelstream.carriers.oauth import Token, TokenCache, TokenError, request_token
from parcelstream.carriers.updates import CarrierBodyError, Parsed

TIMEOUT = httpx2.Timeout(15.0, connect=3.0)
TRANSACTION_SOURCE = "parcelstream"

_PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    "ups": ups.parse_tracking,
    "fedex": fedex.parse_tracking,
    "usps": usps.parse_tracking,
}
BATCH = {"ups": 1, "fedex": 30, "usps": 1}
"""Numbers per request: UPS and USPS (GET) take one, FedEx up to 30."""


class PollFailed(Exception):
    """The carrier did not answer usefully; the numbers asked about are polled again later."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, throttled: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass(frozen=True, slots=True)
class Answer:
    parsed: Parsed
    asked: tuple[str, ...]


class TrackingApi:
    """One carrier's tracking API for this process: token cache, budget, HTTP client."""

    def __init__(self, access: CarrierAccess, client: httpx2.AsyncClient | None = None) -> None:
        self.access = access
        self.carrier = access.carrier
        self.batch = BATCH[access.carrier]
        self.budget = RequestBudget(access.limits)
        self.client = client or httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        self._owns_client = client is None
        self.tokens = TokenCache(self._fetch_token)
        self._parse = _PARSERS[access.carrier]

    async def _fetch_token(self) -> Token:
        # Token requests count against the carrier's quota too (USPS counts them, SPEC §4.3).
        async with self.budget.slot():
            return await request_token(
                self.client, self.carrier, self.access.base_url, self.access.credentials
            )

    async def track(self, numbers: Sequence[str]) -> Answer:
        """Ask about up to `batch` numbers; raises PollFailed for anything worth retrying.
        A refused token is replaced and the call made once more."""
        for attempt in (1, 2):
            try:
                token = await self.tokens.token()
            except TokenError as exc:
                if exc.retry_after is not None:
                    self.budget.pause(exc.retry_after)
                raise PollFailed(exc.reason, retry_after=exc.retry_after) from None
            async with self.budget.slot():
                response = await self._send(numbers, token)
            if response.status_code == 401 and attempt == 1:
                self.tokens.refused(token)
                continue
            return self._read(response, numbers)
        raise AssertionError("unreachable")

    async def _send(self, numbers: Sequence[str], token: str) -> httpx2.Response:
        base = self.access.base_url
        headers = {"Authorization": f"Bearer {token}"}
        try:
            if self.carrier == "ups":
                headers |= {"transId": uuid.uuid4().hex, "transactionSrc": TRANSACTION_SOURCE}
                return await self.client.get(
                    f"{base}/api/track/v1/details/{numbers[0]}",
                    params={"locale": "en_US", "returnSignature": "false"},
                    headers=headers,
                )
            if self.carrier == "fedex":
                body = {
                    "includeDetailedScans": True,
                    "trackingInfo": [
                        {"trackingNumberInfo": {"trackingNumber": n}} for n in numbers
                    ],
                }
                return await self.client.post(
                    f"{base}/track/v1/trackingnumbers", json=body, headers=headers
                )
            return await self.client.get(
                f"{base}/tracking/v3/tracking/{numbers[0]}",
                params={"expand": "DETAIL"},
                headers=headers,
            )
        except httpx2.TimeoutException as exc:
            raise PollFailed(f"{self.carrier}: timed out ({type(exc).__name__})") from None
        except httpx2.TransportError as exc:
            raise PollFailed(f"{self.carrier}: {type(exc).__name__}: {exc}") from None

    def _read(self, response: httpx2.Response, numbers: Sequence[str]) -> Answer:
        status = response.status_code
        if status == 429:
            raise PollFailed(
                f"{self.carrier} answered 429",
                retry_after=_seconds(response.headers.get("Retry-After")),
                throttled=True,
            )
        if status >= 500 or status in (401, 403, 408):
            raise PollFailed(
                f"{self.carrier} answered {status}",
                retry_after=_seconds(response.headers.get("Retry-After")),
            )
        if 400 <= status < 500:
            # No data on these numbers (UPS 404 / TV1002, USPS 404, FedEx's request errors):
            # nothing new, and no outage to back off from.
            return Answer(Parsed([], not_found=list(numbers)), tuple(numbers))
        if status != 200 and not (self.carrier == "usps" and status == 207):
            raise PollFailed(f"{self.carrier} answered {status}")
        try:
            parsed = self._parse(response.content)
        except CarrierBodyError as exc:
            # A proxy's error page or a cut-off body: the data is still at the carrier.
            raise PollFailed(f"{self.carrier} sent an unreadable body: {exc.reason}") from None
        return Answer(parsed, tuple(numbers))

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
