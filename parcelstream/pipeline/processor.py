"""The processor: event log -> scan history (exact dedup) -> status -> read-model document."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import msgspec

from parcelstream.domain.packages import Package
from parcelstream.domain.scans import Scan
from parcelstream.events import PackageRegistered, decode_event
from parcelstream.pipeline.consumer import ConsumerPolicy, run_consumer
from parcelstream.pipeline.projection import project_package
from parcelstream.storage.ports import Delivery, EventLog, LogConsumer, PackageLedger

log = logging.getLogger(__name__)

CONSUMER_NAME = "processor"


class Processor:
    def __init__(
        self, log_: EventLog, ledger: PackageLedger, *, policy: ConsumerPolicy | None = None
    ) -> None:
        self._log = log_
        self._ledger = ledger
        self._policy = policy or ConsumerPolicy()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._log.consumer(CONSUMER_NAME)

        async def handle(batch: Sequence[Delivery]) -> None:
            scans, packages = await self._decode(consumer, batch)
            if scans or packages:
                await self._ledger.apply(scans, packages, project_package)

        try:
            await run_consumer(consumer, handle, stop, probe=self._ledger.ping, policy=self._policy)
        finally:
            await consumer.close()

    @staticmethod
    async def _decode(
        consumer: LogConsumer, batch: Sequence[Delivery]
    ) -> tuple[list[Scan], list[Package]]:
        scans: list[Scan] = []
        packages: list[Package] = []
        for delivery in batch:
            try:
                event = decode_event(delivery.payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await consumer.dead_letter(delivery, f"undecodable: {exc}")
                continue
            if isinstance(event, PackageRegistered):
                packages.append(event.package)
            else:
                scans.append(event.scan)
        return scans, packages
