"""HTTP plumbing the HTTP providers share: the client's timeouts, and how a failed call becomes a
ProviderError (retryable or not, Retry-After, credentials scrubbed from the reason)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from parcelstream.notify.providers.base import ProviderError
from parcelstream.retrying import parse_retry_after


@dataclass(frozen=True, slots=True)
class Timeout:
    read: float = 10.0
    """Seconds to wait for each read of the answer."""
    connect: float = 2.0


DEFAULT_TIMEOUT = Timeout(10.0, connect=2.0)
"""A provider that has not answered in 10 s is better retried than waited on: the notifier's
budget from scan to provider call is seconds, and a hung call holds a send slot."""

USER_AGENT = "parcelstream-notify/0.1"

_json = msgspec.json.Encoder()


class Reply:
    """A provider's answer, read whole: providers' answers are small."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: CIMultiDictProxy[str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return msgspec.json.decode(self.content)


Describe = Callable[[Reply], tuple[str | None, str]]
"""Reads a provider's error body into (the provider's error code, a sentence)."""


class HttpClient:
    """One keep-alive connection pool per provider, on aiohttp.

    aiohttp's C parser costs about a third of httpx2's CPU per call here
    (bench/http_client.py), and the notifier's sends share a process with scan handling.
    The session is opened on first use, inside the event loop that will run it.
    """

    def __init__(self, timeout: Timeout | None = None) -> None:
        timeout = timeout or DEFAULT_TIMEOUT
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout.connect, sock_read=timeout.read
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        body: Any = content
        if json is not None:
            body = _json.encode(json)
            sent.setdefault("Content-Type", "application/json")
        elif data is not None:
            # aiohttp's own form encoding builds a multipart writer (and a uuid4) per call.
            body = urlencode(data).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if auth is not None:
            pair = f"{auth[0]}:{auth[1]}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        # A provider API never redirects a send, and a webhook URL that redirects would carry our
        # signed body to a host the shipper never registered.
        async with self._open().post(
            url, data=body, headers=sent, allow_redirects=False
        ) as response:
            return Reply(response.status, response.headers, await response.read())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def new_client(timeout: Timeout | None = None) -> HttpClient:
    return HttpClient(timeout)


async def post(
    client: HttpClient, provider: str, url: str, *, secrets: Iterable[str], **kwargs: Any
) -> Reply:
    """POST once; a call that never got an answer raises a ProviderError (retryable unless the
    URL itself is unusable)."""
    try:
        return await client.post(url, **kwargs)
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        # The URL may carry a token of the receiver's: name the problem, not the URL.
        reason = f"{provider}: unusable URL ({type(exc).__name__})"
        raise ProviderError(reason, retryable=False) from None
    except TimeoutError as exc:
        raise ProviderError(
            f"{provider}: timed out ({type(exc).__name__})", retryable=True
        ) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        reason = f"{provider}: connection failed ({type(exc).__name__}: {exc})"
        raise ProviderError(scrub(reason, secrets), retryable=True) from None
    except aiohttp.ClientError as exc:  # an answer we could not decode: we cannot tell its status
        reason = f"{provider}: unreadable answer ({type(exc).__name__})"
        raise ProviderError(reason, retryable=True) from None


def raise_for_status(
    response: Reply, provider: str, *, secrets: Iterable[str], describe: Describe
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


def json_or_none(response: Reply) -> Any:
    try:
        return response.json()
    except msgspec.DecodeError:
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
