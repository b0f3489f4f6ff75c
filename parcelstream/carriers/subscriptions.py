"""Carrier push subscriptions that expire: UPS Track Alert subscribes packages for 14 days
(SPEC §2.6), so each followed UPS package is subscribed when first seen and subscribed again a
day before it would lapse, until it is delivered or polling gives up on it.

FedEx AIV and USPS subscriptions are made per account on the carriers' portals (their
per-package APIs are unconfirmed, SPEC §3.6, §4.4), so only UPS is subscribed from here.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import httpx2

from parcelstream.carriers.budget import backoff
from parcelstream.carriers.tracking_api import TRANSACTION_SOURCE, PollFailed, TrackingApi
from parcelstream.domain.polling import DAY, PollState
from parcelstream.storage.ports import PollSchedule

log = logging.getLogger(__name__)

UPS_MAX_NUMBERS = 100
"""Track Alert takes at most 100 numbers per request (VSS220 beyond)."""


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    lifetime: int = 14 * DAY
    renew_ahead: int = 1 * DAY
    lease: int = 300_000_000
    retry_base: int = 60_000_000


async def renew_ups_subscriptions(
    api: TrackingApi,
    schedule: PollSchedule,
    now: int,
    policy: RenewalPolicy = RenewalPolicy(),
    rng: Callable[[], float] = random.random,
    attempt: int = 1,
) -> int:
    """Subscribe every UPS package due for (re)subscription, up to 100 per call; returns how
    many are now subscribed. Numbers UPS calls invalid are not asked about again."""
    claimed = await schedule.claim_renewals("ups", UPS_MAX_NUMBERS, now, policy.lease)
    if not claimed:
        return 0
    numbers = [s.tracking_number for s in claimed]
    try:
        valid, invalid = await _subscribe(api, numbers)
    except PollFailed as exc:
        delay = int(backoff(attempt, policy.retry_base, 3600e6, rng))
        log.warning("UPS Track Alert subscription failed, retry in %.0f s: %s", delay / 1e6, exc)
        await schedule.update(numbers, _retry_at(now + delay))
        raise
    until = now + policy.lifetime
    await schedule.update(numbers, _subscribed(set(valid), set(invalid), until, policy))
    return len(valid)


async def _subscribe(api: TrackingApi, numbers: Sequence[str]) -> tuple[list[str], list[str]]:
    base = api.access.base_url
    body = {"locale": "en_US", "countryCode": "US", "trackingNumberList": list(numbers)}
    for attempt in (1, 2):
        try:
            token = await api.tokens.token()
        except Exception as exc:
            raise PollFailed(f"UPS token: {exc}") from None
        headers = {
            "Authorization": f"Bearer {token}",
            "transId": uuid.uuid4().hex,
            "transactionSrc": TRANSACTION_SOURCE,
        }
        async with api.budget.slot():
            try:
                response = await api.client.post(
                    f"{base}/api/track/v2/subscription/standard/package", json=body, headers=headers
                )
            except httpx2.TransportError as exc:
                raise PollFailed(f"UPS subscription: {type(exc).__name__}") from None
        if response.status_code == 401 and attempt == 1:
            api.tokens.refused(token)
            continue
        break
    if response.status_code not in (200, 400):
        raise PollFailed(f"UPS subscription answered {response.status_code}")
    try:
        answer = response.json()
        valid = [str(n) for n in answer.get("validTrackingNumbers") or []]
        invalid = [str(n) for n in answer.get("invalidTrackingNumbers") or []]
    except (ValueError, AttributeError):
        raise PollFailed("UPS subscription sent an unreadable body") from None
    if response.status_code == 400 and not invalid:
        raise PollFailed("UPS subscription refused the request")
    return valid, invalid


def _subscribed(
    valid: set[str], invalid: set[str], until: int, policy: RenewalPolicy
) -> Callable[[str, PollState | None], PollState | None]:
    def change(tn: str, state: PollState | None) -> PollState | None:
        if state is None:
            return None
        if tn in valid:
            return replace(state, subscribed_until=until, renew_at=until - policy.renew_ahead)
        if tn in invalid:
            return replace(state, renew_at=None)
        # Neither list named it: ask again after the lease, like a failure.
        return None

    return change


def _retry_at(when: int) -> Callable[[str, PollState | None], PollState | None]:
    def change(tn: str, state: PollState | None) -> PollState | None:
        return replace(state, renew_at=when) if state is not None else None

    return change
