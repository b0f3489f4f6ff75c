"""The ASGI app: routes, error mapping, and a lifespan that opens the back ends (and, in the
embedded shape, runs the processor beside the API)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from parcelstream.api.auth import Authenticator
from parcelstream.api.errors import (
    client_gone_handler,
    http_exception_handler,
    rejected_input_handler,
    unexpected_error_handler,
)
from parcelstream.api.routes import carriers, notifications, proof
from parcelstream.api.routes.health import healthz, readyz
from parcelstream.api.routes.scans import post_package, post_scans
from parcelstream.api.routes.tracking import get_tracking
from parcelstream.api.services import Services
from parcelstream.carriers.webhooks import CarrierWebhooks, PushAuthSettings
from parcelstream.domain.errors import RejectedInput
from parcelstream.ingest.packages import PackageRegistry
from parcelstream.ingest.proof import ProofIntake
from parcelstream.ingest.scans import ScanIntake
from parcelstream.notify.links import LinkSigner
from parcelstream.notify.receipts import Receipts
from parcelstream.notify.subscriptions import SubscriptionService
from parcelstream.pipeline.consumer import ConsumerPolicy
from parcelstream.pipeline.processor import Processor
from parcelstream.pod.access import ProofAccess
from parcelstream.pod.files import ProofLimits
from parcelstream.pod.links import FileLinks
from parcelstream.settings import Settings
from parcelstream.supervision import supervise, worker_argv
from parcelstream.tracking.lookup import TrackingLookup
from parcelstream.wiring import (
    TWILIO_CALLBACK_PATH,
    Backends,
    open_backends,
    open_drops,
    open_notifier,
    signing_secret,
)

TWILIO_CALLBACK = TWILIO_CALLBACK_PATH
SENDGRID_CALLBACK = "/v1/notifications/callbacks/sendgrid"
UPS_TOKEN_PATH = "/v1/webhooks/carrier/ups/oauth/token"

log = logging.getLogger(__name__)


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def create_app(
    settings: Settings, *, with_processor: bool, notifier_in_child: bool = False
) -> Starlette:
    """The app; `with_processor` runs the embedded shape's workers beside the API, the notifier
    in a child process of its own when `notifier_in_child` (see parcelstream/supervision.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backends = await open_backends(settings)
        app.state.services = build_services(settings, backends)
        stop = asyncio.Event()
        jobs: list[asyncio.Task[None]] = []
        if with_processor:
            jobs += start_pipeline(settings, backends, stop)
            if notifier_in_child:
                argv = worker_argv("notifier", "--data", str(settings.data_dir))
                jobs.append(asyncio.create_task(supervise("notifier", argv, stop)))
            else:
                jobs += start_notifier(settings, backends, stop)
            jobs += start_drop_watcher(settings, backends, stop)
            jobs += start_poller(settings, backends, stop)
            if settings.eta_enabled:
                jobs += start_eta(settings, backends, stop, share=settings.eta_serve_share)
        log.info("parcelstream ready: %s", backends.description)
        try:
            yield
        finally:
            stop.set()
            # The processor finishes and acknowledges the batch in hand before it returns.
            await asyncio.gather(*jobs, return_exceptions=True)
            await backends.close()
            log.info("parcelstream stopped cleanly")

    return Starlette(
        routes=[
            Route("/v1/track/{tracking_number}", get_tracking, methods=["GET"]),
            Route("/v1/scans", post_scans, methods=["POST"]),
            Route("/v1/packages", post_package, methods=["POST"]),
            Route("/v1/notifications/subscribe", notifications.subscribe, methods=["POST"]),
            Route(
                "/v1/notifications/subscriptions/{subscription_id}",
                notifications.unsubscribe,
                methods=["DELETE"],
            ),
            Route(
                "/v1/notifications/unsubscribe/{token}",
                notifications.unsubscribe_link,
                methods=["GET", "POST"],
            ),
            # The same, short: the link has to fit in an SMS.
            Route("/u/{token}", notifications.unsubscribe_link, methods=["GET", "POST"]),
            Route("/v1/notifications/deliveries", notifications.deliveries, methods=["GET"]),
            Route(TWILIO_CALLBACK, notifications.twilio_callback, methods=["POST"]),
            Route(SENDGRID_CALLBACK, notifications.sendgrid_callback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/v1/scans/proof", proof.post_proof, methods=["POST"]),
            Route("/v1/track/{tracking_number}/proof", proof.get_proof, methods=["GET"]),
            Route("/v1/proof/files/{token}", proof.get_proof_file, methods=["GET"]),
            Route(UPS_TOKEN_PATH, carriers.ups_token, methods=["POST"]),
            Route("/v1/webhooks/carrier/{carrier_id}", carriers.carrier_push, methods=["POST"]),
            Route("/metrics", carriers.metrics, methods=["GET"]),
        ],
        exception_handlers={
            RejectedInput: rejected_input_handler,
            ClientDisconnect: client_gone_handler,
            HTTPException: http_exception_handler,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
    )


def start_pipeline(
    settings: Settings, backends: Backends, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The processor and the upkeep of the stores it writes, until `stop` is set."""
    processor = Processor(
        backends.log,
        backends.ledger,
        policy=ConsumerPolicy(batch_size=settings.processor_batch_size),
    )
    jobs = [asyncio.create_task(job(stop)) for job in backends.maintenance]
    jobs.append(asyncio.create_task(processor.run(stop), name="processor"))
    return jobs


def start_notifier(
    settings: Settings, backends: Backends, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The notifier, until `stop` is set; says at start where each channel goes."""
    notifier, said = open_notifier(settings, backends)
    for line in said:
        log.info("notifications: %s", line)
    return [asyncio.create_task(notifier.run(stop), name="notifier")]


def start_drop_watcher(
    settings: Settings, backends: Backends, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The facility CSV drop watcher, until `stop` is set (it opens and closes its own store)."""

    async def watch(stop: asyncio.Event) -> None:
        from parcelstream.ingest.drop_watcher import DropWatcher

        drops = await open_drops(settings)
        try:
            log.info("drop watcher: %s", drops.description)
            watcher = DropWatcher(
                drops.store,
                drops.ledger,
                backends.log,
                wall_clock_us,
                poll_seconds=settings.drops_poll_seconds,
                settle_seconds=settings.drops_settle_seconds,
            )
            await watcher.run(stop)
        finally:
            await drops.close()

    return [asyncio.create_task(watch(stop), name="drop-watcher")]


def start_poller(
    settings: Settings, backends: Backends, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The carrier poller, until `stop` is set; nothing when no partner carrier is configured."""
    from parcelstream.carriers.access import carrier_access
    from parcelstream.wiring import open_poller

    access = carrier_access(settings)
    if not access:
        return []

    async def run() -> None:
        poller = await open_poller(settings, backends)
        if poller is not None:
            log.info("polling %s", ", ".join(a.described for a in access.values()))
            await poller.run(stop)

    return [asyncio.create_task(run(), name="poller")]


def start_eta(
    settings: Settings, backends: Backends, stop: asyncio.Event, *, share: float = 1.0
) -> list[asyncio.Task[None]]:
    """The EDD worker, until `stop` is set: estimates for the packages the processor changed.
    `share`: the most of the process's time it may take (below 1 beside the processor)."""
    from parcelstream.eta.stats import StatsCache
    from parcelstream.eta.worker import EtaWorker

    if backends.estimates is None:
        raise ValueError("this back end keeps no estimates")
    worker = EtaWorker(
        backends.estimates,
        StatsCache(
            backends.estimates,
            training_days=settings.eta_training_days,
            refresh_seconds=settings.eta_refresh_seconds,
        ),
        policy=ConsumerPolicy(batch_size=settings.eta_batch_size),
        share=share,
    )
    return [asyncio.create_task(worker.run(stop), name="eta")]


def api_from_environment() -> Starlette:
    """The app for `parcelstream api` workers: settings from PARCELSTREAM_*, no processor."""
    return create_app(Settings(), with_processor=False)


def build_services(settings: Settings, backends: Backends) -> Services:
    async def ping() -> None:
        await backends.ledger.ping()
        await backends.log.ping()
        await backends.blobs.ping()

    scan_intake = ScanIntake(backends.log, wall_clock_us, settings.max_batch_scans)
    return Services(
        settings=settings,
        auth=Authenticator(backends.keys),
        scan_intake=scan_intake,
        package_registry=PackageRegistry(backends.log, wall_clock_us),
        lookup=TrackingLookup(backends.read_model),
        subscriptions=SubscriptionService(
            backends.subscriptions,
            backends.notifications,
            backends.ledger,
            LinkSigner(signing_secret(settings), settings.public_url),
        ),
        receipts=Receipts(
            backends.notifications,
            twilio_auth_token=settings.twilio_auth_token,
            twilio_callback_url=f"{settings.public_url.rstrip('/')}{TWILIO_CALLBACK}",
            sendgrid_public_key=settings.sendgrid_webhook_public_key,
        ),
        ping=ping,
        proof_intake=ProofIntake(backends.log, backends.blobs, wall_clock_us),
        proof_access=ProofAccess(
            backends.ledger,
            backends.blobs,
            FileLinks(signing_secret(settings)),
            settings.public_url,
            settings.proof_link_seconds,
        ),
        proof_limits=ProofLimits(
            max_file_bytes=settings.proof_max_file_bytes, max_photos=settings.proof_max_photos
        ),
        carrier_webhooks=CarrierWebhooks(
            scan_intake,
            PushAuthSettings.from_settings(settings),
            wall_clock_us,
        ),
    )
