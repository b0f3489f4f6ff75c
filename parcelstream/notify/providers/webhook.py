"""Signed webhooks to shippers' systems: the rendered JSON event POSTed to the subscription's URL.

Each delivery carries three headers:

    Parcelstream-Event-Id:   the event's id, the same on every retry of the same notification
    Parcelstream-Timestamp:  unix seconds when this attempt was signed
    Parcelstream-Signature:  v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A 2xx answer is success; 429 and 5xx (and timeouts) are retried with backoff; other answers are
not. Redirects are not followed. URLs must be https (http only to localhost, for testing).

Receivers check the signature over the raw body before parsing it, reject a timestamp more than
five minutes away from their clock (a captured request played again later), and treat an event id
they have already processed as done: answer 2xx without processing it again, since a retry after
a lost answer brings the same id with a new timestamp. In Python:

    import hashlib, hmac, time
    from collections.abc import Mapping

    def is_authentic(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
        timestamp = headers["Parcelstream-Timestamp"]
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False  # stale: possibly a captured request played again
        signed = timestamp.encode() + b"." + body
        expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        given = headers["Parcelstream-Signature"].split(",")  # several while a secret rotates
        return any(hmac.compare_digest(expected, s.strip()) for s in given)

    # then: if headers["Parcelstream-Event-Id"] was seen already, answer 200 and stop;
    # else process the event and remember the id for longer than the five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.transport import (
    Reply,
    Timeout,
    first_line,
    new_client,
    post,
    raise_for_status,
)

TOLERANCE_S = 300
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class WebhookProvider:
    name: str = "webhook"

    def __init__(
        self,
        secret: str | None = None,
        *,
        timeout: Timeout | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._client = new_client(timeout)
        self._clock = clock

    async def send(self, message: Message) -> Sent:
        """Sign with the secret given at construction."""
        if self._secret is None:
            raise ProviderError("webhook: no signing secret configured", retryable=False)
        return await self.send_signed(message, self._secret)

    async def send_signed(self, message: Message, secret: str) -> Sent:
        """Sign with a subscription's own secret; one provider (one connection pool) serves
        every subscription."""
        if message.body is None:
            raise ProviderError("webhook: message has no body", retryable=False)
        _check_url(message.to)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "Parcelstream-Event-Id": message.event_id,
            "Parcelstream-Timestamp": str(timestamp),
            "Parcelstream-Signature": sign_webhook(secret, timestamp, message.body),
        }
        secrets = (secret,)
        response = await post(
            self._client,
            self.name,
            message.to,
            secrets=secrets,
            content=message.body,
            headers=headers,
        )
        raise_for_status(response, self.name, secrets=secrets, describe=_describe)
        # The receiver has no id of its own to give us; the event id is what it dedupes on.
        return Sent(self.name, message.event_id)

    async def close(self) -> None:
        await self._client.aclose()


def sign_webhook(secret: str, timestamp: int | str, body: bytes) -> str:
    """The Parcelstream-Signature header value for one attempt."""
    signed = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str,
    timestamp: int | str,
    body: bytes,
    signature: str,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether a delivery is authentic and fresh. Replayed event ids are the receiver's to catch:
    this cannot know which ids it has seen."""
    text = str(timestamp)
    if not text.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(text)) > tolerance_s:
        return False
    expected = sign_webhook(secret, text, body).encode()
    # As bytes: compare_digest refuses a str with non-ASCII characters, which a header may hold.
    return any(
        hmac.compare_digest(expected, given.strip().encode()) for given in signature.split(",")
    )


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
    if not (parts.scheme == "https" or local) or not parts.hostname:
        raise ProviderError("webhook: URL must be https", retryable=False)


def _describe(response: Reply) -> tuple[str | None, str]:
    return None, first_line(response.text)
