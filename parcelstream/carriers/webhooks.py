"""Carrier pushes as a service: check the carrier's authentication over the raw body, parse it
with the carrier's adapter, append the scans to the event log, answer. Processing is the
processor's job, so the answer comes as soon as the scans are durable.

Carrier retries and replays (UPS and FedEx sign no timestamp, so the two look alike) are answered
2xx and absorbed by the per-scan dedup key; out-of-order events are ordered by event time
downstream. Also the small OAuth token endpoint UPS calls before pushing (Track Alert v2).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from parcelstream.carriers import fedex, ups, usps
from parcelstream.carriers.push_auth import (
    UpsAccess,
    UspsRecipe,
    check_fedex,
    check_ups,
    check_ups_client,
    check_usps,
    issue_ups_token,
)
from parcelstream.carriers.updates import CARRIER_IDS, CarrierBodyError, Parsed, Rejected
from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.ingest.scans import ScanIntake
from parcelstream.metrics import CARRIER_PUSHES, CARRIER_REJECTED_EVENTS, count_unknown_codes
from parcelstream.settings import Settings

log = logging.getLogger(__name__)

_PUSH_PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    "ups": ups.parse_push,
    "fedex": fedex.parse_push,
    "usps": usps.parse_push,
}


def secret_list(raw: str | None) -> tuple[str, ...]:
    """'new,old' -> ('new', 'old'): every listed secret is accepted while one rotates."""
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class PushAuthSettings:
    ups: UpsAccess
    fedex_secrets: tuple[str, ...]
    usps_secrets: tuple[str, ...]
    usps_recipe: UspsRecipe

    @classmethod
    def from_settings(cls, settings: Settings) -> PushAuthSettings:
        return cls(
            ups=UpsAccess(
                client_id=settings.ups_webhook_client_id,
                client_secrets=secret_list(settings.ups_webhook_client_secrets),
                credentials=secret_list(settings.ups_webhook_credentials),
                credential_header=settings.ups_webhook_credential_header,
                token_ttl_us=int(settings.ups_webhook_token_ttl_seconds * 1_000_000),
            ),
            fedex_secrets=secret_list(settings.fedex_webhook_secrets),
            usps_secrets=secret_list(settings.usps_webhook_secrets),
            usps_recipe=UspsRecipe(
                header=settings.usps_webhook_signature_header,
                encoding=settings.usps_webhook_signature_encoding,
                message=settings.usps_webhook_signed_message,
                tolerance_us=int(settings.usps_webhook_tolerance_seconds * 1_000_000),
            ),
        )

    def enabled(self, carrier: str) -> bool:
        if carrier == "ups":
            return bool(self.ups.client_id and self.ups.client_secrets) or bool(
                self.ups.credentials
            )
        if carrier == "fedex":
            return bool(self.fedex_secrets)
        return carrier == "usps" and bool(self.usps_secrets)


@dataclass(slots=True)
class PushOutcome:
    carrier: str
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


class TokenRefused(Exception):
    """The token endpoint says no, in OAuth 2.0's words (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class CarrierWebhooks:
    def __init__(
        self, intake: ScanIntake, auth: PushAuthSettings, clock: Callable[[], int]
    ) -> None:
        self._intake = intake
        self._auth = auth
        self._clock = clock

    async def receive(self, carrier: str, headers: Mapping[str, str], body: bytes) -> PushOutcome:
        """Authentic, readable pushes are durable in the log when this returns.

        Raises RejectedInput: not_found (no such carrier, or its pushes are not configured),
        unauthorized, stale_push (USPS timestamp too far from now), malformed (the body as a
        whole, or every event in it, cannot be read).
        """
        if carrier not in CARRIER_IDS or not self._auth.enabled(carrier):
            raise RejectedInput(
                Rejection(
                    "carrier_id",
                    f"no pushes are configured for {carrier!r}; configured:"
                    f" {', '.join(c for c in CARRIER_IDS if self._auth.enabled(c)) or 'none'}",
                    "not_found",
                )
            )
        lowered = {key.lower(): value for key, value in headers.items()}
        problem = self._verify(carrier, lowered, body)
        if problem is not None:
            CARRIER_PUSHES.labels(carrier, problem.code).inc()
            log.warning("refused a %s push: %s (%s)", carrier, problem.reason, problem.field)
            raise RejectedInput(problem)
        try:
            parsed = _PUSH_PARSERS[carrier](body)
        except CarrierBodyError as exc:
            CARRIER_PUSHES.labels(carrier, "malformed").inc()
            raise RejectedInput(Rejection(exc.field, exc.reason, "malformed")) from None
        scans = parsed.scans
        if parsed.rejected and not scans:
            CARRIER_PUSHES.labels(carrier, "malformed").inc()
            raise RejectedInput(
                *(Rejection(r.field, r.reason, "malformed") for r in parsed.rejected)
            )
        for update in parsed.updates:
            count_unknown_codes(carrier, update.unknown_codes)
        if parsed.rejected:
            CARRIER_REJECTED_EVENTS.labels(carrier, "push").inc(len(parsed.rejected))
            log.warning(
                "%s push: kept %d scans, left out %d unreadable events, first: %s",
                carrier,
                len(scans),
                len(parsed.rejected),
                parsed.rejected[0],
            )
        accepted, duplicates = await self._intake.append(scans)
        CARRIER_PUSHES.labels(carrier, "accepted").inc()
        return PushOutcome(carrier, accepted, duplicates, parsed.rejected, parsed.not_found)

    def _verify(self, carrier: str, headers: Mapping[str, str], body: bytes) -> Rejection | None:
        if carrier == "fedex":
            return check_fedex(headers, body, self._auth.fedex_secrets)
        if carrier == "usps":
            recipe = self._auth.usps_recipe
            return check_usps(headers, body, self._auth.usps_secrets, recipe, self._clock())
        return check_ups(headers, self._auth.ups, self._clock())

    def issue_ups_token(self, headers: Mapping[str, str], body: bytes) -> IssuedToken:
        """OAuth 2.0 client credentials for UPS Track Alert: HTTP Basic (client_secret_basic),
        or the client id and secret in the form (client_secret_post)."""
        access = self._auth.ups
        if not access.client_id or not access.client_secrets:
            raise TokenRefused("invalid_client", "no UPS webhook client is configured", 401)
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise TokenRefused(
                "unsupported_grant_type", "grant_type must be client_credentials", 400
            )
        client_id, client_secret = _basic_credentials(
            {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        ) or (form.get("client_id", ""), form.get("client_secret", ""))
        secret = check_ups_client(client_id, client_secret, access)
        if secret is None:
            CARRIER_PUSHES.labels("ups", "token_refused").inc()
            raise TokenRefused("invalid_client", "unknown client id or wrong secret", 401)
        token = issue_ups_token(client_id, secret, self._clock(), access.token_ttl_us)
        return IssuedToken(token, access.token_ttl_us // 1_000_000)


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, binascii.Error):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None
