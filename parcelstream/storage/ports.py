"""The interfaces the services need from storage; adapters under storage/ implement them.

Every adapter passes the contract suite in tests/contract. Nothing outside wiring.py knows which
adapter it holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
class BlobInfo:
    key: str
    size: int
    etag: str
    modified: datetime
    """Aware, UTC."""


class BlobNotFound(Exception):
    """No object has that key."""


class BlobStore(Protocol):
    """Files by key (proof-of-delivery images, facility CSV drops): a local folder or S3.

    Keys are `/`-separated relative paths of letters, digits and `._-=`; no empty, `.` or `..`
    parts. A put replaces the whole object at once: readers see the old or the new bytes."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes:
        """Raises BlobNotFound."""
        ...

    def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The object in chunks of about `chunk_size` bytes, in bounded memory; raises
        BlobNotFound on the first iteration."""
        ...

    async def list(self, prefix: str) -> list[BlobInfo]:
        """Every key starting with `prefix` (a plain string prefix), sorted by key."""
        ...

    async def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""
        ...

    async def signed_url(self, key: str, expires_in: int) -> str | None:
        """A GET link valid for `expires_in` seconds, or None where the store cannot sign
        (a local folder): the API then serves its own signed link."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DropFile:
    """One version of a dropped CSV file: the same key with another etag or size is a new file."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True, slots=True)
class DropProgress:
    """How far an ingest got; saved as it goes, so a crash resumes instead of starting over."""

    rows_done: int = 0
    """Every data row up to this line number is appended or rejected."""
    appending_through: int = 0
    """Rows after `rows_done` up to this line were being appended when it was saved: after a
    crash some of them may be in the log already, so the log's "resent" says nothing there."""
    accepted: int = 0
    duplicates: int = 0
    replayed: int = 0
    """Rows appended again after a crash that the log already had: new or duplicate, unknowable."""


@dataclass(frozen=True, slots=True)
class DropClaim:
    file: DropFile
    clock: int
    """The time (UTC epoch µs) rows are judged against, fixed at the first claim so that a
    resumed ingest accepts and rejects exactly the same rows."""
    progress: DropProgress
    claims: int
    """1 for a first attempt; more after a crash or a lost lease."""


@dataclass(frozen=True, slots=True)
class DropOutcome:
    rows: int
    accepted: int
    rejected: int
    duplicates: int
    replayed: int
    sha256: str
    error: str | None = None
    """Why the file could not be read (header, quoting); rows before the problem still count."""


@dataclass(frozen=True, slots=True)
class DropRecord:
    file: DropFile
    state: str
    """"ingesting", "done" or "failed"."""
    owner: str
    claims: int
    clock: int
    progress: DropProgress
    outcome: DropOutcome | None
    finished_at: int | None


class DropLedger(Protocol):
    """Which dropped files were ingested, by whom, how far and with what result.

    A file is claimed before it is read and finished after; a claim is a lease, so when several
    watchers run only one ingests a file, and a crashed watcher's file is resumed by whoever
    claims it after the lease ran out. A finished file is never claimed again."""

    async def claim(self, file: DropFile, owner: str, now: int, lease: int) -> DropClaim | None:
        """The file for `owner` until `now + lease` (µs); None when it is finished or another
        owner's lease still runs. The same owner may claim its own unfinished file again."""
        ...

    async def checkpoint(
        self, file: DropFile, owner: str, progress: DropProgress, lease_until: int
    ) -> bool:
        """Save progress and extend the lease; False when the claim was lost to another owner."""
        ...

    async def finish(self, file: DropFile, owner: str, outcome: DropOutcome, now: int) -> bool:
        """Done (or failed, with `outcome.error`) for good; False when the claim was lost."""
        ...

    async def records(self, key: str) -> list[DropRecord]:
        """Every version of `key` the ledger knows, oldest claim first."""
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
