"""What every notification provider takes, returns and raises; the notifier sees nothing else.

A provider turns one rendered `Message` into one call to an outside system. It does not retry:
it says, through `ProviderError.retryable` and `retry_after`, whether the notifier should.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    """"email", "sms", "push" or "webhook"."""
    to: str
    """E-mail address, E.164 phone number, device token or https URL."""
    event_id: str
    """Unique per (milestone occurrence, subscription); the idempotency key receivers dedupe on."""
    subject: str | None = None
    text: str = ""
    """E-mail plain-text body, SMS body or push body."""
    html: str | None = None
    title: str | None = None
    """Push title."""
    data: Mapping[str, str] = field(default_factory=dict)
    """Push data payload."""
    body: bytes | None = None
    """Webhook: the exact JSON bytes to POST, already rendered (they are what gets signed)."""
    unsubscribe_url: str | None = None
    """E-mail: sent as one-click List-Unsubscribe (RFC 8058)."""


@dataclass(frozen=True, slots=True)
class Sent:
    provider: str
    """"smtp", "sendgrid", "twilio", "fcm", "webhook" or "outbox"."""
    message_id: str | None
    """The provider's id (Twilio SID, SendGrid X-Message-Id, FCM name, SMTP Message-ID), which
    status callbacks refer to; None when the provider accepted the message without naming it."""


class ProviderError(Exception):
    """A send that failed; `reason` never contains a credential.

    retryable: 429, 5xx, timeouts and connection errors (the same message may succeed later);
    not: other 4xx, permanent SMTP replies, messages the provider can never accept.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        """HTTP status, or the SMTP reply code."""
        self.retry_after = retry_after
        """Seconds the provider asked us to wait (Retry-After), when it said."""
        self.code = code
        """The provider's own error code when it gave one (FCM "UNREGISTERED", Twilio "21211"),
        so the notifier can act on a dead address without parsing `reason`."""

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.reason!r}, retryable={self.retryable}, status={self.status}, "
            f"retry_after={self.retry_after}, code={self.code!r})"
        )


class Provider(Protocol):
    name: str

    async def send(self, message: Message) -> Sent:
        """Hand the message to the provider once; raises ProviderError when it was not taken."""
        ...

    async def close(self) -> None: ...
