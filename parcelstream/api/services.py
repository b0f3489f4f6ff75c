"""What route functions reach through `request.app.state`: the services, never the adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from parcelstream.api.auth import Authenticator
from parcelstream.carriers.webhooks import CarrierWebhooks
from parcelstream.ingest.packages import PackageRegistry
from parcelstream.ingest.proof import ProofIntake
from parcelstream.ingest.scans import ScanIntake
from parcelstream.notify.receipts import Receipts
from parcelstream.notify.subscriptions import SubscriptionService
from parcelstream.pod.access import ProofAccess
from parcelstream.pod.files import ProofLimits
from parcelstream.settings import Settings
from parcelstream.tracking.lookup import TrackingLookup


@dataclass(frozen=True)
class Services:
    settings: Settings
    auth: Authenticator
    scan_intake: ScanIntake
    package_registry: PackageRegistry
    lookup: TrackingLookup
    subscriptions: SubscriptionService
    receipts: Receipts
    ping: Callable[[], Awaitable[None]]
    proof_intake: ProofIntake
    proof_access: ProofAccess
    proof_limits: ProofLimits
    carrier_webhooks: CarrierWebhooks


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
