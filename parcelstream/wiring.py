"""The one place that turns settings into concrete adapters, chosen by URL scheme.

No URL means the embedded default (SQLite files in the data folder). Adapters are imported only
when chosen, so the embedded shape never loads a driver it does not use.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from parcelstream.notify.providers.base import Provider

if TYPE_CHECKING:
    from parcelstream.carriers.poller import Poller
    from parcelstream.notify.notifier import Notifier
from parcelstream.settings import Settings
from parcelstream.storage.ports import (
    BlobStore,
    DropLedger,
    EstimateStore,
    EventLog,
    KeyStore,
    NotificationQueue,
    PackageLedger,
    PollSchedule,
    ReadModel,
    SubscriptionStore,
)
from parcelstream.storage.urls import mask_password

log = logging.getLogger(__name__)

TWILIO_CALLBACK_PATH = "/v1/notifications/callbacks/twilio"

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Backends:
    log: EventLog
    ledger: PackageLedger
    read_model: ReadModel
    keys: KeyStore
    subscriptions: SubscriptionStore
    notifications: NotificationQueue
    blobs: BlobStore
    """Proof-of-delivery files and facility CSV drops."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    maintenance: list[Job] = field(default_factory=list)
    """Background upkeep for processes that run the pipeline (log trimming, cache repair)."""
    description: str = ""
    estimates: EstimateStore | None = None
    """The EDD worker's store (beside the ledger, in the same database)."""

    async def close(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()


_SCHEMES = {
    "PARCELSTREAM_DATABASE_URL": ("postgresql", "postgres"),
    "PARCELSTREAM_LOG_URL": ("nats",),
    "PARCELSTREAM_REDIS_URL": ("redis", "rediss"),
    "PARCELSTREAM_BLOB_URL": ("s3",),
}


def check_settings(settings: Settings) -> None:
    """Refuse unknown schemes and impossible combinations before anything connects."""
    for setting, url in (
        ("PARCELSTREAM_DATABASE_URL", settings.database_url),
        ("PARCELSTREAM_LOG_URL", settings.log_url),
        ("PARCELSTREAM_REDIS_URL", settings.redis_url),
        ("PARCELSTREAM_BLOB_URL", settings.blob_url),
    ):
        _check_scheme(setting, url, _SCHEMES[setting])
    if settings.drops_url and "://" in settings.drops_url:
        _check_scheme("PARCELSTREAM_DROPS_URL", settings.drops_url, ("s3",))
    if settings.redis_url and not settings.database_url:
        raise ValueError(
            "PARCELSTREAM_REDIS_URL needs PARCELSTREAM_DATABASE_URL: Redis caches the documents"
            " PostgreSQL holds"
        )
    from parcelstream.carriers.access import carrier_access

    carrier_access(settings)  # raises naming the carrier setting that cannot be used


async def open_backends(settings: Settings) -> Backends:
    check_settings(settings)
    closers: list[Callable[[], Awaitable[None]]] = []
    maintenance: list[Job] = []
    try:
        event_log, log_text = await _open_log(settings, closers, maintenance)
        stores, state_text = await _open_state(settings, closers, maintenance)
        blobs, blob_text = open_blobs(settings)
        closers.append(blobs.close)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
        raise
    ledger, read_model, keys, notifications, estimates = stores
    return Backends(
        estimates=estimates,
        log=event_log,
        ledger=ledger,
        read_model=read_model,
        keys=keys,
        subscriptions=notifications,
        notifications=notifications,
        blobs=blobs,
        closers=closers,
        maintenance=maintenance,
        description=f"{log_text}; {state_text}; {blob_text}",
    )


async def _open_log(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]], maintenance: list[Job]
) -> tuple[EventLog, str]:
    if settings.log_url:
        from parcelstream.storage.nats import NatsEventLog

        nats_log = await NatsEventLog.connect(settings.log_url)
        closers.append(nats_log.close)
        return nats_log, f"event log on NATS JetStream ({mask_password(settings.log_url)})"

    from parcelstream.storage.sqlite.log import SqliteEventLog

    sqlite_log = SqliteEventLog(
        settings.data_dir / "log.db", retention_seconds=settings.log_retention_hours * 3600
    )
    closers.append(sqlite_log.close)

    async def trim_log(stop: asyncio.Event) -> None:
        await _every(
            600, stop, "trimming the event log", lambda: asyncio.to_thread(sqlite_log.trim)
        )

    maintenance.append(trim_log)
    return sqlite_log, f"event log in {settings.data_dir.resolve() / 'log.db'}"


def open_blobs(settings: Settings) -> tuple[BlobStore, str]:
    """S3-compatible storage when a blob URL is set, else the folder `<data>/blobs`."""
    if settings.blob_url:
        from parcelstream.storage.blobs.s3 import S3BlobStore

        s3 = S3BlobStore.from_url(
            settings.blob_url, settings.blob_access_key_id, settings.blob_secret_access_key
        )
        return s3, f"files on {s3.description}"

    from parcelstream.storage.blobs.local import LocalBlobStore

    local = LocalBlobStore(settings.data_dir / "blobs")
    return local, f"files in {local.root}"


@dataclass
class Drops:
    """Where facility CSV files are dropped, and the ledger of which were ingested."""

    store: BlobStore
    ledger: DropLedger
    description: str
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()


async def open_drops(settings: Settings) -> Drops:
    """The drop store (`PARCELSTREAM_DROPS_URL`: a folder or s3://…; by default the prefix
    `drops/` of the blob URL, or the folder `<data>/drops`) and the drop ledger beside the other
    state (SQLite `state.db` or PostgreSQL)."""
    url = settings.drops_url
    if not url and settings.blob_url:  # scaled out on S3: a drops/ prefix beside the files
        parts = urlsplit(settings.blob_url)
        url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/drops"))
    store: BlobStore
    if url and "://" in url:
        _check_scheme("PARCELSTREAM_DROPS_URL", url, ("s3",))
        from parcelstream.storage.blobs.s3 import S3BlobStore

        s3 = S3BlobStore.from_url(url, settings.blob_access_key_id, settings.blob_secret_access_key)
        store, where = s3, s3.description
    else:
        from parcelstream.storage.blobs.local import LocalBlobStore

        local = LocalBlobStore(Path(url) if url else settings.data_dir / "drops")
        await local.ping()  # creates the folder, so facility systems have somewhere to drop
        store, where = local, str(local.root)
    ledger: DropLedger
    closers: list[Callable[[], Awaitable[None]]] = [store.close]
    if settings.database_url:
        from parcelstream.storage.postgres.drops import PostgresDropLedger

        postgres = await PostgresDropLedger.connect(settings.database_url)
        closers.append(postgres.close)
        ledger = postgres
    else:
        from parcelstream.storage.sqlite.drops import SqliteDropLedger

        sqlite = SqliteDropLedger(settings.data_dir / "state.db")
        closers.append(sqlite.close)
        ledger = sqlite
    return Drops(store, ledger, f"CSV drops in {where}", closers)


class _Notifications(SubscriptionStore, NotificationQueue, Protocol):
    pass


_Stores = tuple[PackageLedger, ReadModel, KeyStore, _Notifications, EstimateStore]


async def _open_state(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]], maintenance: list[Job]
) -> tuple[_Stores, str]:
    if not settings.database_url:
        from parcelstream.storage.sqlite.estimates import SqliteEstimates
        from parcelstream.storage.sqlite.notifications import SqliteNotifications
        from parcelstream.storage.sqlite.state import SqliteState

        sqlite_state = SqliteState(
            settings.data_dir / "state.db",
            cache_size=settings.document_cache_size,
            eta_requests=settings.eta_enabled,
        )
        closers.append(sqlite_state.close)
        sqlite_notifications = SqliteNotifications(settings.data_dir / "state.db")
        closers.append(sqlite_notifications.close)
        text = f"state in {settings.data_dir.resolve() / 'state.db'}"
        estimates = SqliteEstimates(sqlite_state)
        return (sqlite_state, sqlite_state, sqlite_state, sqlite_notifications, estimates), text

    from parcelstream.storage.postgres.estimates import PostgresEstimates
    from parcelstream.storage.postgres.notifications import PostgresNotifications
    from parcelstream.storage.postgres.state import PostgresState

    text = f"state on PostgreSQL ({mask_password(settings.database_url)})"
    if not settings.redis_url:
        postgres = await PostgresState.connect(
            settings.database_url, eta_requests=settings.eta_enabled
        )
        closers.append(postgres.close)
        notifications = PostgresNotifications(postgres.pool)
        return (postgres, postgres, postgres, notifications, PostgresEstimates(postgres)), text

    from parcelstream.storage.read_through import ReadThroughModel
    from parcelstream.storage.redis import RedisDocuments

    redis = RedisDocuments.from_url(settings.redis_url)
    closers.append(redis.close)
    postgres = await PostgresState.connect(
        settings.database_url, cache=redis, eta_requests=settings.eta_enabled
    )
    closers.append(postgres.close)

    async def sync_cache(stop: asyncio.Event) -> None:
        await _every(2, stop, "repairing the read-model cache", postgres.sync_cache)

    maintenance.append(sync_cache)
    read_model = ReadThroughModel(redis, postgres)
    closers.append(read_model.close)  # closed first: its pending write-backs need Redis
    text += f", lookups through Redis ({mask_password(settings.redis_url)})"
    notifications = PostgresNotifications(postgres.pool)
    return (postgres, read_model, postgres, notifications, PostgresEstimates(postgres)), text


async def _every(
    seconds: float, stop: asyncio.Event, what: str, work: Callable[[], Awaitable[int]]
) -> None:
    while not stop.is_set():
        try:
            done = await work()
            if done:
                log.info("%s: %d", what, done)
        except Exception as exc:
            log.warning("%s failed: %r", what, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def _check_scheme(setting: str, url: str | None, known: tuple[str, ...]) -> None:
    if not url:
        return
    scheme = urlsplit(url).scheme
    if scheme in known:
        return
    guess = difflib.get_close_matches(scheme, list(known), n=1, cutoff=0.4)
    hint = f" Did you mean {guess[0]}://?" if guess else ""
    raise ValueError(
        f"{setting}={mask_password(url)}: unknown scheme {scheme!r}; supported: "
        f"{', '.join(known)}, or unset for the embedded back end.{hint}"
    )


def open_providers(settings: Settings) -> tuple[dict[str, Provider], list[str]]:
    """A provider per channel, from the settings; what has none goes to the outbox file."""
    from parcelstream.notify.providers.outbox import OutboxFileProvider
    from parcelstream.notify.providers.webhook import WebhookProvider

    outbox = OutboxFileProvider(outbox_path(settings))
    said: list[str] = []
    providers: dict[str, Provider] = {"webhook": WebhookProvider()}
    if settings.sendgrid_api_key:
        from parcelstream.notify.providers.sendgrid import SendGridProvider

        providers["email"] = SendGridProvider(
            settings.sendgrid_api_key, settings.email_from, settings.sendgrid_base_url
        )
        said.append(f"e-mail through SendGrid ({settings.sendgrid_base_url})")
    elif settings.smtp_url:
        from parcelstream.notify.providers.smtp import SmtpProvider

        providers["email"] = SmtpProvider(settings.smtp_url, settings.email_from)
        said.append(f"e-mail through SMTP ({mask_password(settings.smtp_url)})")
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        from parcelstream.notify.providers.twilio import TwilioProvider

        providers["sms"] = TwilioProvider(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            settings.twilio_base_url,
            status_callback=f"{settings.public_url.rstrip('/')}{TWILIO_CALLBACK_PATH}",
        )
        said.append(f"SMS through Twilio ({settings.twilio_base_url})")
    if settings.fcm_project_id and settings.fcm_service_account_file:
        import json

        from parcelstream.notify.providers.fcm import FcmProvider

        account = json.loads(settings.fcm_service_account_file.read_text())
        providers["push"] = FcmProvider(settings.fcm_project_id, account, settings.fcm_base_url)
        said.append(f"push through FCM ({settings.fcm_base_url})")
    for channel in ("email", "sms", "push"):
        if channel not in providers:
            providers[channel] = outbox
            said.append(f"{channel} to the outbox file {outbox_path(settings)} (no provider set)")
    return providers, said


def outbox_path(settings: Settings) -> Path:
    return settings.data_dir / "notifications-outbox.jsonl"


def signing_secret(settings: Settings) -> bytes:
    """The key of unsubscribe links. Scaled out every process needs the same one, so it must be
    set; embedded, one is generated into the data folder on first use."""
    if settings.signing_secret:
        return settings.signing_secret.encode()
    if settings.database_url:
        raise ValueError("set PARCELSTREAM_SIGNING_SECRET: every process must sign links alike")
    path = settings.data_dir / "signing.key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), path.open("x") as key_file:
            key_file.write(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def open_notifier(settings: Settings, backends: Backends) -> tuple[Notifier, list[str]]:
    """The notifier with its providers (closed with the back ends) and what it says at start."""
    from parcelstream.notify.links import LinkSigner
    from parcelstream.notify.notifier import Notifier, NotifierPolicy
    from parcelstream.notify.templates import TemplateRenderer

    providers, said = open_providers(settings)
    for provider in {id(p): p for p in providers.values()}.values():
        backends.closers.append(provider.close)
    notifier = Notifier(
        backends.notifications,
        backends.subscriptions,
        backends.ledger,
        providers,
        TemplateRenderer(settings.templates_dir),
        LinkSigner(signing_secret(settings), settings.public_url),
        policy=NotifierPolicy(
            max_age_hours=settings.notify_max_age_hours,
            backoff_base_seconds=settings.notify_backoff_seconds,
        ),
        estimates=backends.estimates,
    )
    return notifier, said


async def open_poll_schedule(settings: Settings, backends: Backends) -> PollSchedule:
    """The polling state of partner-carrier packages (closed with the back ends)."""
    if not settings.database_url:
        from parcelstream.storage.sqlite.polls import SqlitePolls

        sqlite_polls = SqlitePolls(settings.data_dir / "state.db")
        backends.closers.append(sqlite_polls.close)
        return sqlite_polls

    from parcelstream.storage.postgres.polls import PostgresPolls
    from parcelstream.storage.postgres.state import parse_url

    dsn, _ = parse_url(settings.database_url)
    postgres_polls = await PostgresPolls.connect(dsn)
    backends.closers.append(postgres_polls.close)
    return postgres_polls


async def open_poller(settings: Settings, backends: Backends) -> Poller | None:
    """The carrier poller, or None when no partner carrier is configured."""
    from parcelstream.carriers.access import carrier_access
    from parcelstream.carriers.poller import Poller, PollerPolicy
    from parcelstream.carriers.subscriptions import RenewalPolicy
    from parcelstream.carriers.tracking_api import TrackingApi
    from parcelstream.domain.polling import DAY, PollPolicy
    from parcelstream.ingest.scans import ScanIntake

    access = carrier_access(settings)
    if not access:
        return None
    scale = settings.poll_interval_scale
    apis = {carrier: TrackingApi(a) for carrier, a in access.items()}
    for api in apis.values():
        backends.closers.append(api.close)
    schedule = await open_poll_schedule(settings, backends)
    policy = PollerPolicy(
        poll=PollPolicy().scaled(scale),
        renewal=RenewalPolicy(
            lifetime=int(14 * DAY * scale),
            renew_ahead=int(DAY * scale),
            lease=max(1, int(300e6 * min(1.0, scale * 1000))),
            retry_base=max(1, int(60e6 * min(1.0, scale * 1000))),
        ),
        idle_seconds=min(1.0, max(0.05, 3600 * scale)),
        backoff_base_seconds=min(2.0, max(0.05, 7200 * scale)),
    )
    intake = ScanIntake(backends.log, lambda: time.time_ns() // 1000, settings.max_batch_scans)
    return Poller(backends.log, intake, backends.ledger, schedule, apis, policy=policy)
