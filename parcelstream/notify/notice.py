"""What a milestone notification says, before any channel or template has shaped it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeliveryWindow:
    date: str
    """The estimated delivery date, YYYY-MM-DD in the destination's time zone."""
    earliest: str
    """RFC 3339 with offset."""
    latest: str


@dataclass(frozen=True, slots=True)
class Notice:
    event_id: str
    """Unique per milestone occurrence and subscription; receivers deduplicate on it."""
    tracking_number: str
    carrier: str | None
    milestone: str
    """PICKED_UP, OUT_FOR_DELIVERY, DELIVERED, ATTEMPTED_DELIVERY or EXCEPTION."""
    milestone_number: int
    """1 the first time the package entered this milestone, 2 the second (a new attempt day)..."""
    status_detail: str | None
    """E.g. WEATHER_DELAY for an exception, NO_ACCESS for an attempt."""
    occurred_at: str
    """RFC 3339, in the scan's own offset."""
    city: str | None
    region: str | None
    country: str | None
    tracking_url: str
    unsubscribe_url: str | None
    recipient_name: str | None = None
    window: DeliveryWindow | None = None
