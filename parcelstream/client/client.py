"""`Client`: what a handheld or an integration calls to report scans to a parcelstream server.

Scans go into the on-device buffer first (durable before `scan` returns) and reach the server in
batches, whenever `flush` runs or the background flusher finds the network up. Connection
failures, timeouts, 5xx and 429 are retried with jittered exponential backoff (honouring
Retry-After); a scan the server refuses is moved aside with its reason, never retried.
Deliveries with proof (signature, photos) are buffered the same way, files included, and
uploaded one by one through `POST /v1/scans/proof` after the plain scans.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx2

from parcelstream.client.backoff import Backoff
from parcelstream.client.buffer import Pending, PendingDelivery, RejectedScan, ScanBuffer
from parcelstream.retrying import parse_retry_after

log = logging.getLogger("parcelstream.client")

SERVER_BATCH_LIMIT = 5000
"""The most scans the server takes in one request (PARCELSTREAM_MAX_BATCH_SCANS)."""

USER_AGENT = "parcelstream-client/0.1"


class ClientError(Exception):
    """A refusal retrying cannot fix (a bad key, a wrong URL): the scans stay buffered."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class _TryLater(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(slots=True)
class FlushResult:
    """What one `flush` achieved; `pending` > 0 with `error` set means the server was out of
    reach or busy until the time given ran out."""

    sent: int = 0
    accepted: int = 0
    proofs: int = 0
    """Deliveries uploaded with their proof files (also counted in sent and accepted/duplicates)."""
    duplicates: int = 0
    rejected: int = 0
    pending: int = 0
    attempts: int = 0
    error: str | None = None


class Client:
    """Scans in, durably, and out to the server at `base_url` with the `scans:write` key.

    Safe to use from several threads; one flush runs at a time. Use as a context manager, or call
    `close()` (which stops the background flusher, leaving unsent scans in the buffer)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        buffer_path: str | Path,
        *,
        batch_size: int = 1000,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not 1 <= batch_size <= SERVER_BATCH_LIMIT:
            raise ValueError(f"batch_size must be 1..{SERVER_BATCH_LIMIT}")
        self.buffer_path = Path(buffer_path)
        self._buffer = ScanBuffer(self.buffer_path)
        self._batch_size = batch_size
        self._backoff = backoff or Backoff()
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
        )
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- taking scans ---------------------------------------------------------------------------

    def scan(
        self,
        tracking_number: str,
        status_code: str,
        facility_id: str,
        *,
        timestamp: datetime | str | None = None,
        employee_id: str | None = None,
        exception_code: str | None = None,
        location: Mapping[str, str] | None = None,
    ) -> None:
        """Record one scan; it is on disk when this returns. `timestamp` defaults to now in the
        device's time zone; a datetime must carry its offset."""
        scan: dict[str, Any] = {
            "tracking_number": tracking_number,
            "facility_id": facility_id,
            "timestamp": _rfc3339(timestamp),
            "status_code": status_code,
        }
        if employee_id is not None:
            scan["employee_id"] = employee_id
        if exception_code is not None:
            scan["exception_code"] = exception_code
        if location is not None:
            scan["location"] = dict(location)
        self._buffer.add([scan])

    def add(self, scan: Mapping[str, Any]) -> None:
        """Record one scan in the wire shape of `POST /v1/scans`."""
        self.add_many([scan])

    def add_many(self, scans: Iterable[Mapping[str, Any]]) -> int:
        """Record several scans in one transaction (all or none); returns how many."""
        return self._buffer.add(scans)

    def deliver(
        self,
        tracking_number: str,
        facility_id: str,
        *,
        timestamp: datetime | str | None = None,
        employee_id: str | None = None,
        location: Mapping[str, str] | None = None,
        signed_by: str | None = None,
        left_at: str | None = None,
        gps: tuple[float, float] | tuple[float, float, float] | None = None,
        signature: str | Path | bytes | None = None,
        photos: Sequence[str | Path | bytes] = (),
    ) -> None:
        """Record a DELIVERED scan with its proof: the signer, where it was left, the GPS point
        (latitude, longitude[, accuracy in metres]) and JPEG/PNG/WebP images, given as paths or
        bytes. The images are copied into the buffer, so the originals may go at once."""
        scan: dict[str, Any] = {
            "tracking_number": tracking_number,
            "facility_id": facility_id,
            "timestamp": _rfc3339(timestamp),
            "status_code": "DELIVERED",
        }
        if employee_id is not None:
            scan["employee_id"] = employee_id
        if location is not None:
            scan["location"] = dict(location)
        proof: dict[str, Any] = {}
        if signed_by is not None:
            proof["signed_by"] = signed_by
        if left_at is not None:
            proof["left_at"] = left_at
        if gps is not None:
            proof["location"] = {"latitude": gps[0], "longitude": gps[1]}
            if len(gps) == 3:
                proof["location"]["accuracy_m"] = gps[2]
        if proof:
            scan["proof"] = proof
        files = [_image("signature", signature)] if signature is not None else []
        files += [_image("photo", photo) for photo in photos]
        self._buffer.add_delivery(scan, files)

    @property
    def pending(self) -> int:
        """Scans and deliveries buffered and not yet answered for by the server."""
        return self._buffer.pending_count() + self._buffer.deliveries_count()

    def rejected(self) -> list[RejectedScan]:
        """Scans the server refused, with its reasons, oldest first."""
        return self._buffer.rejected()

    def forget_rejected(self, scans: Iterable[RejectedScan]) -> None:
        self._buffer.forget_rejected(s.id for s in scans)

    # -- sending --------------------------------------------------------------------------------

    def flush(self, timeout: float | None = 30.0) -> FlushResult:
        """Send buffered scans in batches until none are left, retrying with backoff; gives up
        (returning what is still pending, and why) once `timeout` seconds have passed, or never
        when it is None. Raises ClientError for a refusal retrying cannot fix."""
        with self._flushing:
            return self._flush(None if timeout is None else time.monotonic() + timeout)

    def _flush(self, deadline: float | None) -> FlushResult:
        result = FlushResult()
        batch_size = self._batch_size
        failures = 0
        while not self._stop.is_set():
            batch = self._buffer.oldest(batch_size)
            delivery = None if batch else self._buffer.oldest_delivery()
            if not batch and delivery is None:
                break
            result.attempts += 1
            try:
                if delivery is not None:
                    self._send_delivery(delivery, result)
                    failures = 0
                    continue
                answer = self._post(batch)
            except _TryLater as exc:
                failures += 1
                wait = self._backoff.delay(failures, exc.retry_after)
                if deadline is not None and time.monotonic() + wait > deadline:
                    result.error = str(exc)
                    break
                log.info("flush: %s; retrying in %.1f s", exc, wait)
                self._stop.wait(wait)
                continue
            except _TooLarge:
                if batch_size > 1:
                    batch_size = max(1, batch_size // 2)
                    continue
                refusal = {"field": None, "reason": "too large for the server", "code": "too_large"}
                self._buffer.settle(batch, {0: [refusal]})
                result.rejected += 1
                continue
            failures = 0
            refusals = {i: e for i, e in _refusals(answer).items() if 0 <= i < len(batch)}
            self._buffer.settle(batch, refusals)
            result.sent += len(batch)
            result.accepted += int(answer["accepted"])
            result.duplicates += int(answer["duplicates"])
            result.rejected += len(refusals)
        result.pending = self._buffer.pending_count() + self._buffer.deliveries_count()
        return result

    def _send_delivery(self, delivery: PendingDelivery, result: FlushResult) -> None:
        parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
            ("scan", (None, delivery.scan.encode(), "application/json"))
        ]
        for file in delivery.files:
            parts.append(
                (file.kind, (file.path.name, file.path.read_bytes(), "application/octet-stream"))
            )
        try:
            response = self._http.post("/v1/scans/proof", files=parts)
        except httpx2.TransportError as exc:
            raise _TryLater(f"server unreachable ({type(exc).__name__}: {exc})") from None
        status = response.status_code
        if status == 200:
            answer = response.json()
            self._buffer.settle_delivery(delivery, None)
            result.sent += 1
            result.proofs += 1
            result.accepted += int(answer.get("accepted", 0))
            result.duplicates += int(answer.get("duplicates", 0))
        elif status in (400, 413, 415, 422):
            # The API says every such refusal is final: keep it, with the reasons, for the app.
            self._buffer.settle_delivery(delivery, _errors_of(response))
            result.rejected += 1
        elif status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TryLater(f"server answered {status} to a proof upload", retry_after)
        else:
            raise ClientError(
                f"server refused the proof upload: {status} {response.text[:300]}", status
            )

    def _post(self, batch: list[Pending]) -> dict[str, Any]:
        body = ('{"scans":[' + ",".join(p.scan for p in batch) + "]}").encode()
        try:
            response = self._http.post(
                "/v1/scans", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx2.TransportError as exc:
            raise _TryLater(f"server unreachable ({type(exc).__name__}: {exc})") from None
        status = response.status_code
        if status == 200:
            try:
                answer: dict[str, Any] = response.json()
                _ = answer["accepted"], answer["duplicates"], answer["errors"]
            except (ValueError, KeyError, TypeError):
                raise _TryLater("the server's answer was not a scan batch result") from None
            return answer
        if status == 413:
            raise _TooLarge
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TryLater(f"server answered {status}", retry_after)
        raise ClientError(f"server refused the batch: {status} {response.text[:300]}", status)

    # -- in the background ----------------------------------------------------------------------

    def start(self, interval: float = 5.0) -> None:
        """Flush in a background thread every `interval` seconds while scans are pending."""
        if self._flusher is not None:
            return
        self._stop.clear()
        self._flusher = threading.Thread(
            target=self._flush_forever, args=(interval,), name="parcelstream-flusher", daemon=True
        )
        self._flusher.start()

    def _flush_forever(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                if self._buffer.pending_count():
                    self.flush(timeout=None)
            except ClientError as exc:
                log.error("flush refused, scans stay buffered: %s", exc)
            except Exception:
                log.exception("flush failed, scans stay buffered")
            self._stop.wait(interval)

    def stop(self) -> None:
        """Stop the background flusher (the batch in flight is answered or abandoned first)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        self._stop.clear()

    def close(self) -> None:
        self.stop()
        with self._flushing:
            self._http.close()
            self._buffer.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _TooLarge(Exception):
    pass


def _refusals(answer: Mapping[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """The server's per-item errors grouped by position in the batch."""
    refusals: dict[int, list[dict[str, Any]]] = {}
    for error in answer["errors"]:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            index = int(error["index"])
            refusals.setdefault(index, []).append(
                {
                    "field": error.get("field"),
                    "reason": error.get("reason"),
                    "code": error.get("code"),
                }
            )
    return refusals


def _errors_of(response: httpx2.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
        listed = body.get("errors") or [body["error"]]
        return [
            {"field": e.get("field"), "reason": e.get("reason"), "code": e.get("code")}
            for e in listed
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return [{"field": None, "reason": f"refused with {response.status_code}", "code": None}]


def _image(kind: str, source: str | Path | bytes) -> tuple[str, bytes, str]:
    if isinstance(source, bytes):
        return kind, source, ".img"
    path = Path(source)
    return kind, path.read_bytes(), path.suffix.lower() or ".img"


def _rfc3339(moment: datetime | str | None) -> str:
    if moment is None:
        return datetime.now().astimezone().isoformat(timespec="seconds")
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp needs a time zone (e.g. datetime.now().astimezone())")
    return moment.isoformat()
