"""What the notifier stores: subscriptions, planned deliveries and what became of each attempt."""

from __future__ import annotations

from dataclasses import dataclass

from parcelstream.domain.milestones import Occurrence

CHANNELS = ("email", "sms", "push", "webhook")


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    tracking_number: str
    channel: str
    address: str
    """E-mail address, E.164 phone number, device token or https URL."""
    milestones: frozenset[str]
    source: str = "api"
    """"api", or "recipient"/"shipper" for the automatic ones from master data."""
    secret: str | None = None
    """Webhook signing secret (webhook channel only)."""


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    event_id: str
    subscription_id: str
    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message due to be sent (claimed under a lease), with what is needed to render it."""

    delivery_id: int
    event_id: str
    subscription_id: str
    channel: str
    address: str
    attempts: int
    occurrence: Occurrence
    created_at: int
    """UTC epoch microseconds at which the milestone was dispatched into this delivery."""


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: int
    at: int
    state: str
    """"sent", "retry" (again at `next_attempt_at`) or "dead" (given up: dead-lettered)."""
    latency_ms: float
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    next_attempt_at: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery as the admin API shows it."""

    event_id: str
    tracking_number: str
    milestone: str
    number: int
    channel: str
    address: str
    state: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    receipt: str | None
    created_at: int
    sent_at: int | None
    latency_ms: float | None
