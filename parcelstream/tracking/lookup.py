"""GET /v1/track as a service: one read of the precomputed document, no rendering per request."""

from __future__ import annotations

from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.domain.numbers import detect, normalize
from parcelstream.storage.ports import ReadModel, StoredDocument

MOVING_MAX_AGE = 10
SETTLED_MAX_AGE = 3600
_SETTLED = frozenset({"DELIVERED"})


class TrackingLookup:
    def __init__(self, read_model: ReadModel) -> None:
        self._read_model = read_model

    async def find(self, raw_number: str) -> StoredDocument:
        number = normalize(raw_number)
        document = await self._read_model.document(number)
        if document is not None:
            return document
        # Only a miss pays for validation: it decides between 400 and 404.
        if not detect(number).valid:
            raise RejectedInput(
                Rejection(
                    "tracking_number",
                    "not a valid tracking number: wrong length, format or check digit",
                    "malformed_tracking_number",
                )
            )
        raise RejectedInput(
            Rejection("tracking_number", f"no package with tracking number {number}", "not_found")
        )


def cache_control(status: str) -> str:
    max_age = SETTLED_MAX_AGE if status in _SETTLED else MOVING_MAX_AGE
    return f"public, max-age={max_age}"
