"""OAuth client-credentials tokens for the carriers' APIs: each carrier's token request, and a
cache that keeps a token until shortly before it expires and fetches a new one once however many
callers ask at the same moment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2


class TokenError(Exception):
    """The token endpoint refused or could not be reached; `retryable` says whether to retry."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    lifetime: float
    """Seconds it is valid for, from when it was issued."""


Fetch = Callable[[], Awaitable[Token]]


class TokenCache:
    """One carrier's bearer token: reused until `margin` before expiry (at most a tenth of its
    lifetime), fetched single-flight, and dropped after the API refuses it (a 401)."""

    def __init__(
        self, fetch: Fetch, *, margin: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._value: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self) -> str:
        value = self._fresh()
        if value is not None:
            return value
        async with self._lock:
            value = self._fresh()  # another caller may have fetched it while we waited
            if value is not None:
                return value
            issued = self._clock()
            token = await self._fetch()
            self.fetches += 1
            margin = min(self._margin, token.lifetime / 10)
            self._value = token.value
            self._refresh_at = issued + token.lifetime - margin
            return token.value

    def refused(self, value: str) -> None:
        """The API answered 401 to `value`: fetch a new one next time (unless already done)."""
        if self._value == value:
            self._value = None

    def _fresh(self) -> str | None:
        if self._value is not None and self._clock() < self._refresh_at:
            return self._value
        return None


async def request_token(
    client: httpx2.AsyncClient, carrier: str, base_url: str, credentials: Credentials
) -> Token:
    """The carrier's client-credentials request, as each documents it (SPEC §2.1, §3.1, §4.1)."""
    base = base_url.rstrip("/")
    try:
        if carrier == "ups":
            response = await client.post(
                f"{base}/security/v1/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
        elif carrier == "fedex":
            response = await client.post(
                f"{base}/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                },
            )
        else:
            response = await client.post(
                f"{base}/oauth2/v3/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                },
            )
    except httpx2.TransportError as exc:
        raise TokenError(f"{carrier} token: {type(exc).__name__}", retryable=True) from None
    if response.status_code != 200:
        retryable = response.status_code in (408, 429) or response.status_code >= 500
        raise TokenError(
            f"{carrier} token endpoint answered {response.status_code}",
            retryable=retryable,
            retry_after=_seconds(response.headers.get("Retry-After")),
        )
    return _token_from(carrier, response)


def _token_from(carrier: str, response: httpx2.Response) -> Token:
    try:
        body: Any = response.json()
        value = body["access_token"]
        # UPS sends every value as a string ("14399"), FedEx a number; USPS has sent both.
        lifetime = float(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise TokenError(
            f"{carrier} token endpoint sent an unreadable body", retryable=True
        ) from None
    if not isinstance(value, str) or not value or lifetime <= 0:
        raise TokenError(f"{carrier} token endpoint sent no usable token", retryable=True)
    return Token(value, lifetime)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
