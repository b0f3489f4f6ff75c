"""POST /v1/scans/proof as a service: a DELIVERED scan and its files, files stored first.

The files go to the blob store before the scan goes to the event log, so a scan on the log never
names a file that is not there; a failure in between leaves only content-addressed files that the
resend overwrites with the same bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.domain.proof import Proof, ProofFile
from parcelstream.domain.scans import Scan, ScanCode
from parcelstream.events import scan_record
from parcelstream.ingest.schemas import ScanIn
from parcelstream.ingest.validation import scan_from_wire
from parcelstream.pod.files import ReceivedFile, store_files
from parcelstream.storage.ports import BlobStore, EventLog
from parcelstream.wire_errors import rejections_from_msgspec

_scan_decoder = msgspec.json.Decoder(ScanIn)


@dataclass(frozen=True, slots=True)
class ProofOutcome:
    accepted: int
    duplicates: int
    files: tuple[ProofFile, ...]


class ProofIntake:
    def __init__(self, log: EventLog, blobs: BlobStore, clock: Callable[[], int]) -> None:
        self._log = log
        self._blobs = blobs
        self._clock = clock

    async def submit(self, scan_json: bytes | None, files: list[ReceivedFile]) -> ProofOutcome:
        scan = self._validate(scan_json)
        stored = await store_files(self._blobs, scan.tracking_number, files)
        # Proof with nothing in it is no proof: the scan then goes in as a plain delivery.
        proof = dataclasses.replace(scan.proof or Proof(), files=stored) if stored else scan.proof
        [resent] = await self._log.append([scan_record(dataclasses.replace(scan, proof=proof))])
        return ProofOutcome(accepted=0 if resent else 1, duplicates=int(resent), files=stored)

    def _validate(self, scan_json: bytes | None) -> Scan:
        if scan_json is None:
            raise RejectedInput(
                Rejection("scan", "send the DELIVERED scan as a 'scan' part (JSON)", "missing")
            )
        try:
            item = _scan_decoder.decode(scan_json)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RejectedInput(_in_scan(rejections_from_msgspec(exc))) from None
        result = scan_from_wire(item, self._clock())
        if not isinstance(result, Scan):
            raise RejectedInput(*(_in_scan(r) for r in result))
        if result.status_code is not ScanCode.DELIVERED:
            raise RejectedInput(
                Rejection(
                    "scan.status_code",
                    "proof of delivery goes with a DELIVERED scan",
                    "proof_not_allowed",
                )
            )
        return result


def _in_scan(rejection: Rejection) -> Rejection:
    field = f"scan.{rejection.field}" if rejection.field else "scan"
    return Rejection(field, rejection.reason, rejection.code)
