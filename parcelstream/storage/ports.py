"""The interfaces the services need from storage; adapters under storage/ implement them.

Every adapter passes the contract suite in tests/contract. Nothing outside wiring.py knows which
adapter it holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from parcelstream.domain.estimate import EstimateRecord
from parcelstream.domain.milestones import Occurrence
from parcelstream.domain.notifications import (
    Attempt,
    DeliveryRecord,
    Outgoing,
    PlannedDelivery,
    Subscription,
)
from parcelstream.domain.packages import Package
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


class Projector(Protocol):
    def __call__(
        self,
        tracking_number: str,
        package: Package | None,
        history: list[Scan],
        estimate: bytes | None = None,
        /,
    ) -> Projection:
        """`estimate`: the stored `estimated_delivery` JSON the EDD worker last patched in, carried
        into the new document so a re-render never wipes it."""
        ...


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


@dataclass(frozen=True, slots=True)
class EtaInput:
    """What the EDD worker needs to estimate one package."""

    tracking_number: str
    package: Package | None
    history: list[Scan]
    record: EstimateRecord | None
    """The estimates given so far (original and latest), if any."""
    version: int | None = None
    """The document's version when read (None: no document yet)."""


@dataclass(frozen=True, slots=True)
class EstimateUpdate:
    tracking_number: str
    record: EstimateRecord | None
    """None when the package no longer has an estimate (delivered, going back)."""
    document: bytes | None
    """The document's `estimated_delivery` value as JSON, or None for null."""
    changed: Occurrence | None = None
    """The estimate-changed event, when the date moved; goes to the milestone outbox."""
    delivered_at: int | None = None
    """Set once delivered: the package joins the training set at this instant."""
    version: int | None = None
    """The document version the estimate was made from: if the package has changed since, the
    update is dropped (the change brought a newer request, which will be estimated afresh)."""


DocumentPatch = Callable[[bytes, bytes | None], tuple[bytes, str]]
"""(document, estimate JSON or None) -> (patched document, its etag)."""


class EstimateStore(Protocol):
    """The EDD side: the request outbox the ledger writes, estimates, and training histories."""

    def requests(self) -> LogConsumer:
        """The EDD requests (one per changed package, coalesced) as a consumer: payload is the
        tracking number; ack removes a request unless the package changed again meanwhile."""
        ...

    async def inputs(self, tracking_numbers: Sequence[str]) -> list[EtaInput]: ...

    async def save(self, updates: Sequence[EstimateUpdate], patch: DocumentPatch) -> None:
        """In one transaction: keep each record, patch each package's document (new version,
        also to the read-model cache), record estimate-changed events and deliveries. Updates
        made from an older document version than the stored one are dropped."""
        ...

    async def estimate(self, tracking_number: str) -> EstimateRecord | None: ...

    def delivered(
        self, since: int, until: int, batch: int
    ) -> AsyncIterator[list[tuple[Package | None, list[Scan]]]]:
        """Master data and history of packages delivered in [since, until), `batch` at a time
        (an `async def` generator), so training never holds them all."""
        ...
