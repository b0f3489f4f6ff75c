"""The interfaces the services need from storage; adapters under storage/ implement them.

Every adapter passes the contract suite in tests/contract. Nothing outside wiring.py knows which
adapter it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import (
    Attempt,
    DeliveryRecord,
    Outgoing,
    PlannedDelivery,
    Subscription,
)
from parcelstream.domain.packages import Package
from parcelstream.domain.polling import PollState
from parcelstream.domain.scans import Scan


@dataclass(frozen=True, slots=True)
class LogRecord:
    payload: bytes
    dedup_id: bytes | None = None
    """Records with an id already in the log are dropped as resends (within the log's window)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A record handed to a consumer; `position` is what the consumer acknowledges."""

    position: int
    payload: bytes


class EventLog(Protocol):
    async def append(self, records: Sequence[LogRecord]) -> list[bool]:
        """Durably append; returns, per record, whether it was a resend. Returns after fsync."""
        ...

    def consumer(self, name: str) -> LogConsumer: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class LogConsumer(Protocol):
    async def fetch(self, max_records: int, max_wait: float) -> list[Delivery]:
        """Unacknowledged records, oldest first; waits up to `max_wait` seconds for one."""
        ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None: ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park a record that can never be processed, so it does not come back forever."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Projection:
    """What the processor derives for one package from its master data and full history."""

    status: str
    document: bytes
    etag: str
    milestones: tuple[Occurrence, ...] = ()
    """Every milestone occurrence in the history; the ledger keeps the ones it has not seen
    (its notification outbox, written in the same transaction)."""


Projector = Callable[[str, Package | None, list[Scan]], Projection]


@dataclass(frozen=True, slots=True)
class Applied:
    new_scans: int
    changed_packages: int


class PackageLedger(Protocol):
    """The write side: history and master data, and the projection kept in step with them."""

    async def apply(
        self, scans: Sequence[Scan], packages: Sequence[Package], project: Projector
    ) -> Applied:
        """Store new facts (resent scans are ignored) and, in the same transaction, re-project
        every package that changed."""
        ...

    async def history(self, tracking_number: str) -> list[Scan]: ...

    async def package(self, tracking_number: str) -> Package | None: ...

    async def ping(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredDocument:
    body: bytes
    etag: str
    status: str


class ReadModel(Protocol):
    async def document(self, tracking_number: str) -> StoredDocument | None: ...


@dataclass(frozen=True, slots=True)
class VersionedDocument:
    tracking_number: str
    version: int
    """Grows with every change of the package; a store never replaces a newer version."""
    document: StoredDocument


class DocumentSink(Protocol):
    """A fast copy of the documents (Redis), fed after the ledger commits; may lag or be empty."""

    async def put_documents(self, documents: Sequence[VersionedDocument]) -> None: ...

    async def document(self, tracking_number: str) -> StoredDocument | None: ...


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]


class KeyStore(Protocol):
    async def add_key(
        self, key_id: str, name: str, scopes: Sequence[str], secret_hash: str
    ) -> None: ...

    async def find_key(self, secret_hash: str) -> ApiKey | None: ...


Planner = Callable[
    [Occurrence, Package | None, list[Subscription], frozenset[tuple[str, str]]],
    list[PlannedDelivery],
]
"""Who hears of an occurrence: given the package's master data, its subscriptions and the
(channel, address) pairs that opted out."""


class SubscriptionStore(Protocol):
    async def subscribe(self, subscription: Subscription) -> None: ...

    async def unsubscribe(self, subscription_id: str) -> Subscription | None:
        """Removes it; returns what was removed (None if unknown or already gone)."""
        ...

    async def opt_out(self, tracking_number: str, channel: str, address: str) -> None:
        """Stops the automatic (master-data) subscription of this address for this package."""
        ...

    async def subscription(self, subscription_id: str) -> Subscription | None: ...


class NotificationQueue(Protocol):
    """The notifier's side: the milestone outbox in, deliveries and their attempts out."""

    async def dispatch(self, limit: int, plan: Planner, now: int) -> int:
        """Turn up to `limit` undispatched occurrences into deliveries, in one transaction each
        batch; a delivery's event id is unique, so dispatching twice plans nothing twice."""
        ...

    async def claim(self, limit: int, now: int, lease: int) -> list[Outgoing]:
        """Deliveries due by `now`, hidden from other claimers for `lease` microseconds."""
        ...

    async def record(self, attempts: Sequence[Attempt]) -> None: ...

    async def deliveries(self, tracking_number: str) -> list[DeliveryRecord]: ...

    async def receipt(self, provider: str, message_id: str, status: str) -> bool:
        """A provider's status callback; False when no delivery has that message id."""
        ...


PollChange = Callable[[str, PollState | None], PollState | None]
"""Given a package's polling state (None: not yet tracked), its new state (None: leave as is)."""


class PollSchedule(Protocol):
    """Polling state of partner-carrier packages, shared by every poller process."""

    async def update(self, tracking_numbers: Sequence[str], change: PollChange) -> int:
        """Read, change and write these packages' states in one transaction (serialized against
        every other update of the same packages); returns how many were written."""
        ...

    async def claim_due(
        self, carriers: Sequence[str], limit: int, now: int, lease: int
    ) -> list[PollState]:
        """Up to `limit` packages of these carriers due by `now`, earliest first, hidden from
        other claimers for `lease` microseconds (a crashed poller's claim comes back then)."""
        ...

    async def claim_renewals(
        self, carrier: str, limit: int, now: int, lease: int
    ) -> list[PollState]:
        """Packages of `carrier` still followed whose push subscription is due for (re)making
        by `now`, hidden from other claimers for `lease` microseconds."""
        ...

    async def poll_state(self, tracking_number: str) -> PollState | None: ...
