"""Who may see a delivery's private proof (signer, GPS point, images), and the links they get.

The caller must know the destination postal code from the package's master data, or hold an
admin key. Wrong guesses are counted per package; after `max_failures` within `window` seconds
the package answers 429 until the window passes, so a five-digit ZIP cannot be walked through.
The count is per process: N API workers allow N times as many guesses, still far from the
100,000 a ZIP needs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec

from parcelstream.domain.delivery import postal_codes_match, proof_scan
from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.domain.numbers import detect, normalize
from parcelstream.domain.status import event_order
from parcelstream.domain.times import format_instant
from parcelstream.pod.files import content_type_of
from parcelstream.pod.links import FileLinks
from parcelstream.storage.ports import BlobNotFound, BlobStore, PackageLedger

_FORBIDDEN = Rejection(
    "postal_code",
    "give the destination postal code of this package (?postal_code=), or use an admin key",
    "forbidden",
)
_TRACKED_PACKAGES = 100_000


class GeoPointOut(msgspec.Struct):
    latitude: float
    longitude: float
    accuracy_m: float | None


class FileOut(msgspec.Struct):
    kind: str
    content_type: str
    size: int
    sha256: str
    url: str
    expires_at: str


class ProofOut(msgspec.Struct):
    tracking_number: str
    delivered_at: str
    signed_by: str | None
    left_at: str | None
    location: GeoPointOut | None
    files: list[FileOut]


_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class ProofFileStream:
    content_type: str
    chunks: AsyncIterator[bytes]
    seconds_left: int


class ProofAccess:
    def __init__(
        self,
        ledger: PackageLedger,
        blobs: BlobStore,
        links: FileLinks,
        public_url: str,
        link_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
        max_failures: int = 10,
        window: float = 900.0,
    ) -> None:
        self._ledger = ledger
        self._blobs = blobs
        self._links = links
        self._files_url = f"{public_url.rstrip('/')}/v1/proof/files/"
        self._link_seconds = link_seconds
        self._clock = clock
        self._max_failures = max_failures
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    async def proof(self, raw_number: str, postal_code: str | None, admin: bool) -> bytes:
        """The private proof as JSON, for a caller who proved they may see it."""
        number = normalize(raw_number)
        if not detect(number).valid:
            raise RejectedInput(
                Rejection(
                    "tracking_number",
                    "not a valid tracking number: wrong length, format or check digit",
                    "malformed_tracking_number",
                )
            )
        package = await self._ledger.package(number)
        history = await self._ledger.history(number)
        if package is None and not history:
            raise RejectedInput(
                Rejection(
                    "tracking_number", f"no package with tracking number {number}", "not_found"
                )
            )
        if not admin:
            self._check_not_locked(number)
            expected = package.destination.postal_code if package and package.destination else None
            if not postal_codes_match(postal_code, expected):
                self._record_failure(number)
                raise RejectedInput(_FORBIDDEN)
        scan = proof_scan(sorted(history, key=event_order))
        if scan is None or scan.proof is None:
            raise RejectedInput(
                Rejection("tracking_number", "this package has no proof of delivery", "not_found")
            )
        proof = scan.proof
        now = int(self._clock())
        expires_at = now + self._link_seconds
        files = [
            FileOut(
                kind=file.kind,
                content_type=file.content_type,
                size=file.size,
                sha256=file.sha256,
                url=await self._link(file.key, expires_at),
                expires_at=format_instant(expires_at * 1_000_000),
            )
            for file in proof.files
        ]
        where = proof.location
        return _encoder.encode(
            ProofOut(
                tracking_number=number,
                delivered_at=format_instant(scan.occurred_at, scan.utc_offset),
                signed_by=proof.signed_by,
                left_at=proof.left_at,
                location=GeoPointOut(where.latitude, where.longitude, where.accuracy_m)
                if where
                else None,
                files=files,
            )
        )

    async def open_file(self, token: str) -> ProofFileStream:
        """The file a genuine, unexpired link names; 403 for anything else."""
        now = int(self._clock())
        read = self._links.read(token, now)
        if read is None:
            raise RejectedInput(
                Rejection("token", "this link is expired, forged or garbled", "forbidden")
            )
        key, expires_at = read
        chunks = self._blobs.stream(key, 256 * 1024)
        try:
            first = await anext(chunks)
        except BlobNotFound:
            raise RejectedInput(
                Rejection("token", "the file of this link is gone", "not_found")
            ) from None
        except StopAsyncIteration:
            first = b""
        return ProofFileStream(content_type_of(key), _prepend(first, chunks), expires_at - now)

    async def _link(self, key: str, expires_at: int) -> str:
        signed = await self._blobs.signed_url(key, self._link_seconds)
        return signed or self._files_url + self._links.token(key, expires_at)

    def _check_not_locked(self, number: str) -> None:
        failures = self._failures.get(number)
        if failures is None:
            return
        cutoff = self._clock() - self._window
        while failures and failures[0] < cutoff:
            failures.popleft()
        if len(failures) >= self._max_failures:
            retry = int(failures[0] - cutoff) + 1
            raise RejectedInput(
                Rejection(
                    "postal_code",
                    f"too many wrong postal codes for this package; try again in {retry} s",
                    "too_many_attempts",
                )
            )

    def _record_failure(self, number: str) -> None:
        if len(self._failures) >= _TRACKED_PACKAGES and number not in self._failures:
            del self._failures[next(iter(self._failures))]  # the longest-tracked package
        self._failures.setdefault(number, deque(maxlen=self._max_failures)).append(self._clock())


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk
