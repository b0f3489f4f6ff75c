"""HTTP plumbing the HTTP providers share: the client's timeouts, and how a failed call becomes a
ProviderError (retryable or not, Retry-After, credentials scrubbed from the reason)."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

import httpx2

from parcelstream.notify.providers.base import ProviderError

DEFAULT_TIMEOUT = httpx2.Timeout(10.0, connect=2.0)
"""A provider that has not answered in 10 s is better retried than waited on: the notifier's
budget from scan to provider call is seconds, and a hung call holds a send slot."""

USER_AGENT = "parcelstream-notify/0.1"

Describe = Callable[[httpx2.Response], tuple[str | None, str]]
"""Reads a provider's error body into (the provider's error code, a sentence)."""


def new_client(timeout: httpx2.Timeout | None = None) -> httpx2.AsyncClient:
    # Redirects are not followed: a provider API never redirects a send, and a webhook URL that
    # redirects would carry our signed body to a host the shipper never registered.
    return httpx2.AsyncClient(
        timeout=timeout or DEFAULT_TIMEOUT,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


async def post(
    client: httpx2.AsyncClient, provider: str, url: str, *, secrets: Iterable[str], **kwargs: Any
) -> httpx2.Response:
    """POST once; a call that never got an answer raises a ProviderError (retryable unless the
    URL itself is unusable)."""
    try:
        return await client.post(url, **kwargs)
    except (httpx2.UnsupportedProtocol, httpx2.InvalidURL) as exc:
        # The URL may carry a token of the receiver's: name the problem, not the URL.
        reason = f"{provider}: unusable URL ({type(exc).__name__})"
        raise ProviderError(reason, retryable=False) from None
    except httpx2.TimeoutException as exc:
        raise ProviderError(
            f"{provider}: timed out ({type(exc).__name__})", retryable=True
        ) from None
    except httpx2.TransportError as exc:
        reason = f"{provider}: connection failed ({type(exc).__name__}: {exc})"
        raise ProviderError(scrub(reason, secrets), retryable=True) from None
    except httpx2.RequestError as exc:  # an answer we could not decode: we cannot tell its status
        reason = f"{provider}: unreadable answer ({type(exc).__name__})"
        raise ProviderError(reason, retryable=True) from None


def raise_for_status(
    response: httpx2.Response, provider: str, *, secrets: Iterable[str], describe: Describe
) -> None:
    if response.is_success:
        return
    status = response.status_code
    code, detail = describe(response)
    reason = f"{provider} answered {status}" + (f" {code}" if code else "")
    if detail:
        reason += f": {detail}"
    raise ProviderError(
        scrub(reason, secrets),
        # 408 is the server's own timeout, which is as transient as ours.
        retryable=status in (408, 429) or status >= 500,
        status=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        code=code,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def json_or_none(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def first_line(text: str, limit: int = 200) -> str:
    """A bounded, single-line excerpt of a response body, for a reason string."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Hide credentials a server or an exception might echo back (a URL with a token in it)."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
