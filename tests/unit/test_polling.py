"""The polling interval policy: often when out for delivery, rarely when stale, never after
delivery or a month of silence; jitter spreads polls; news folds in by event time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from parcelstream.domain.polling import (
    DAY,
    HOUR,
    MINUTE,
    News,
    PollPolicy,
    PollState,
    absorb,
    after_poll,
    next_poll_at,
)

T0 = 1_800_000_000_000_000
POLICY = PollPolicy()


def state(status: str = "IN_TRANSIT", **changes: Any) -> PollState:
    base = PollState(
        "1Z7E4A920341208571", "ups", heard_at=T0, status=status, event_at=T0, polled_at=T0
    )
    return replace(base, **changes)


def test_out_for_delivery_is_polled_every_fifteen_minutes() -> None:
    assert next_poll_at(state("OUT_FOR_DELIVERY"), POLICY, T0, 0.0) == T0 + 15 * MINUTE


def test_in_transit_is_polled_hourly() -> None:
    assert next_poll_at(state("IN_TRANSIT"), POLICY, T0, 0.0) == T0 + HOUR


def test_a_label_without_pickup_is_polled_rarely() -> None:
    assert next_poll_at(state("LABEL_CREATED"), POLICY, T0, 0.0) == T0 + 4 * HOUR


def test_a_package_silent_for_three_days_is_polled_every_six_hours() -> None:
    stale = state("OUT_FOR_DELIVERY", polled_at=T0 + 3 * DAY)
    assert next_poll_at(stale, POLICY, T0 + 3 * DAY, 0.0) == T0 + 3 * DAY + 6 * HOUR


def test_delivered_stops_polling() -> None:
    assert next_poll_at(state("DELIVERED"), POLICY, T0, 0.0) is None


def test_thirty_days_of_silence_stops_polling() -> None:
    assert next_poll_at(state(), POLICY, T0 + 30 * DAY, 0.0) is None
    assert next_poll_at(state(), POLICY, T0 + 30 * DAY - 1, 0.0) is not None


def test_jitter_stays_within_a_tenth_of_the_interval() -> None:
    low = next_poll_at(state(), POLICY, T0, -1.0)
    high = next_poll_at(state(), POLICY, T0, 1.0)
    assert low == T0 + int(HOUR * 0.9)
    assert high == T0 + int(HOUR * 1.1)


def test_a_push_postpones_the_next_poll() -> None:
    pushed = absorb(
        state(),
        News("1Z7E4A920341208571", "ups", T0 + HOUR - 1, ((T0 + 5, "ARRIVED_AT_FACILITY"),)),
    )
    assert next_poll_at(pushed, POLICY, T0 + HOUR - 1, 0.0) == T0 + 2 * HOUR - 1


def test_status_follows_event_time_not_arrival() -> None:
    news = News(
        "1Z7E4A920341208571",
        "ups",
        T0,
        ((T0 + 20, "OUT_FOR_DELIVERY"), (T0 + 10, "ARRIVED_AT_FACILITY")),
    )
    assert absorb(state(event_at=0), news).status == "OUT_FOR_DELIVERY"


def test_delivered_is_terminal_even_when_an_older_scan_arrives_later() -> None:
    delivered = absorb(state(), News("1Z7E4A920341208571", "ups", T0, ((T0 + 50, "DELIVERED"),)))
    later = absorb(
        delivered, News("1Z7E4A920341208571", "ups", T0 + 1, ((T0 + 99, "OUT_FOR_DELIVERY"),))
    )
    assert later.status == "DELIVERED"


def test_a_registration_naming_the_carrier_wins_over_detection() -> None:
    first = absorb(None, News("1Z7E4A920341208571", "ups", T0))
    named = absorb(first, News("1Z7E4A920341208571", "fedex", T0 + 1, (), carrier_given=True))
    assert (first.carrier, named.carrier) == ("ups", "fedex")
    assert named.heard_at == T0  # a registration alone is no news of movement


def test_a_poll_that_finds_nothing_leaves_the_silence_running() -> None:
    polled = after_poll(state(), T0 + HOUR, [])
    assert (polled.polls, polled.found, polled.heard_at, polled.polled_at) == (1, 0, T0, T0 + HOUR)
    found = after_poll(state(), T0 + HOUR, [(T0 + 30, "OUT_FOR_DELIVERY")])
    assert (found.found, found.heard_at, found.status) == (1, T0 + HOUR, "OUT_FOR_DELIVERY")


def test_a_package_first_heard_of_by_push_is_polled_at_once_to_backfill() -> None:
    pushed = absorb(None, News("1Z7E4A920341208571", "ups", T0, ((T0 - HOUR, "DELIVERED"),)))
    assert next_poll_at(pushed, POLICY, T0 + 5, 0.0) == T0 + 5
    backfilled = after_poll(pushed, T0 + 10, [(T0 - DAY, "PICKED_UP")])
    assert next_poll_at(backfilled, POLICY, T0 + 10, 0.0) is None


def test_a_registration_alone_waits_for_the_label_interval() -> None:
    registered = absorb(None, News("1Z7E4A920341208571", "ups", T0))
    assert next_poll_at(registered, POLICY, T0, 0.0) == T0 + 4 * HOUR


def test_scaled_policy_runs_a_day_in_seconds() -> None:
    fast = POLICY.scaled(1 / 3600)
    assert fast.in_transit == 1_000_000
    assert fast.give_up_after == 30 * DAY // 3600
