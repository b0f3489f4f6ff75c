"""When to ask a partner carrier about a package: its polling state, how news folds into it, and
the adaptive interval (often when out for delivery, rarely when stale, never once delivered)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from parcelstream.domain.scans import SCAN_CODES
from parcelstream.domain.status import STATUS_OF, Status

MINUTE = 60 * 1_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class PollState:
    """What the poller knows of one partner-carrier package. Times are UTC epoch microseconds."""

    tracking_number: str
    carrier: str
    heard_at: int
    """When we last learned something new about it (a push, a scanner, a poll that found scans):
    silence is measured from here."""
    status: str = Status.LABEL_CREATED
    """The status its newest known event gives (DELIVERED is terminal)."""
    event_at: int = 0
    """Event time of the newest known event (0: none yet)."""
    polled_at: int | None = None
    due_at: int | None = None
    """Next poll; None once polling has stopped (delivered, or silent too long)."""
    polls: int = 0
    found: int = 0
    """Scans that polling found and push had not delivered."""
    subscribed_until: int | None = None
    """Expiry of the carrier push subscription (UPS Track Alert), when one was made."""
    renew_at: int | None = None
    """When to (re)subscribe to the carrier's pushes; None: no subscription wanted."""

    @property
    def stopped(self) -> bool:
        return self.due_at is None


@dataclass(frozen=True, slots=True)
class News:
    """Something learned about a package at `at`: a registration (no events) or new scans."""

    tracking_number: str
    carrier: str
    at: int
    events: tuple[tuple[int, str], ...] = ()
    """(event time, scan status code) of each new scan."""
    carrier_given: bool = False
    """The carrier comes from the registration (wins over detection from the number)."""


@dataclass(frozen=True, slots=True)
class PollPolicy:
    out_for_delivery: int = 15 * MINUTE
    in_transit: int = HOUR
    label_created: int = 4 * HOUR
    """Before pickup nothing moves fast, and carriers count every request."""
    stale_after: int = 3 * DAY
    stale: int = 6 * HOUR
    give_up_after: int = 30 * DAY
    jitter: float = 0.1
    """Each interval is stretched or shrunk by up to this fraction, so polls spread out."""

    def scaled(self, factor: float) -> PollPolicy:
        """Every duration times `factor` (tests and demos run a day in seconds)."""
        return PollPolicy(
            out_for_delivery=max(1, int(self.out_for_delivery * factor)),
            in_transit=max(1, int(self.in_transit * factor)),
            label_created=max(1, int(self.label_created * factor)),
            stale_after=max(1, int(self.stale_after * factor)),
            stale=max(1, int(self.stale * factor)),
            give_up_after=max(1, int(self.give_up_after * factor)),
            jitter=self.jitter,
        )

    def interval(self, status: str, silent_for: int) -> int:
        if silent_for >= self.stale_after:
            return self.stale
        if status == Status.OUT_FOR_DELIVERY:
            return self.out_for_delivery
        if status == Status.LABEL_CREATED:
            return self.label_created
        return self.in_transit


def next_poll_at(state: PollState, policy: PollPolicy, now: int, spread: float) -> int | None:
    """When to poll next, or None to stop. `spread` in [-1, 1] picks the jitter (the caller draws
    it, so this stays a pure function)."""
    if state.polled_at is None and state.event_at:
        # Heard of by a push (or a scanner) and never asked about: ask once now, to backfill
        # what came before (Track Alert keeps no history; a push lost earlier is found here),
        # even when that first news is the delivery.
        return now
    if state.status == Status.DELIVERED:
        return None
    silent_for = now - state.heard_at
    if silent_for >= policy.give_up_after:
        return None
    interval = policy.interval(state.status, silent_for)
    stretched = int(interval * (1 + policy.jitter * max(-1.0, min(1.0, spread))))
    # Silence counts from the last news or the last poll, whichever is later: a push that keeps
    # coming keeps polling away.
    return max(state.heard_at, state.polled_at or 0) + stretched


def absorb(state: PollState | None, news: News) -> PollState:
    """Fold news into the state. Status follows the newest event by event time, never arrival
    order; DELIVERED is terminal, as in the status FSM."""
    if state is None:
        state = PollState(news.tracking_number, news.carrier, heard_at=news.at)
    elif news.carrier_given and news.carrier != state.carrier:
        state = replace(state, carrier=news.carrier)
    status, event_at = state.status, state.event_at
    for occurred_at, code in news.events:
        scan_code = SCAN_CODES.get(code)
        if scan_code is None or status == Status.DELIVERED:
            continue
        target = STATUS_OF[scan_code]
        if target is Status.DELIVERED or occurred_at >= event_at:
            if not (target is Status.LABEL_CREATED and event_at):
                status = target
            event_at = max(event_at, occurred_at)
    heard_at = max(state.heard_at, news.at) if news.events else state.heard_at
    return replace(state, status=status, event_at=event_at, heard_at=heard_at)


def after_poll(state: PollState, polled_at: int, found: Sequence[tuple[int, str]]) -> PollState:
    """The state once a poll at `polled_at` answered, `found` being the scans it newly brought."""
    state = absorb(state, News(state.tracking_number, state.carrier, polled_at, tuple(found)))
    return replace(
        state, polled_at=polled_at, polls=state.polls + 1, found=state.found + len(found)
    )
