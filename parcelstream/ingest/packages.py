"""POST /v1/packages as a service: master data, validated, appended to the log for the processor."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from parcelstream.domain.errors import RejectedInput
from parcelstream.domain.packages import Package
from parcelstream.events import package_record
from parcelstream.ingest.schemas import PackageIn
from parcelstream.ingest.validation import package_from_wire
from parcelstream.storage.ports import EventLog
from parcelstream.wire_errors import rejections_from_msgspec

_decoder = msgspec.json.Decoder(PackageIn)


class PackageRegistry:
    def __init__(self, log: EventLog, clock: Callable[[], int]) -> None:
        self._log = log
        self._clock = clock

    async def register(self, body: bytes) -> Package:
        """Durable once this returns; the processor creates or updates the package from the log."""
        try:
            item = _decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RejectedInput(rejections_from_msgspec(exc)) from None
        result = package_from_wire(item, self._clock())
        if isinstance(result, list):
            raise RejectedInput(*result)
        await self._log.append([package_record(result)])
        return result
