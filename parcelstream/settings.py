"""Every setting, read from PARCELSTREAM_* environment variables; URLs pick the back ends."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCELSTREAM_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Folder for the embedded back end's files.")
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, description="Port the HTTP server listens on.")
    database_url: str | None = Field(
        None, description="Scan history, packages and keys; unset means SQLite in data_dir."
    )
    log_url: str | None = Field(
        None, description="Event log; unset means a SQLite append-only log in data_dir."
    )
    redis_url: str | None = Field(
        None, description="Read model cache for lookups (scaled out); unset means none."
    )
    serve_notifier: Literal["process", "inline"] = Field(
        "process",
        description="Where `serve` runs the notifier: a child process of its own (a second core"
        " for provider calls) or inline in the serving process.",
    )
    max_batch_scans: int = Field(5000, description="Most scans one POST /v1/scans may carry.")
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body accepted.")
    processor_batch_size: int = Field(5000, description="Log records the processor takes at once.")
    document_cache_size: int = Field(
        100_000, description="Tracking documents kept in memory by the embedded read model."
    )
    log_retention_hours: float = Field(
        168.0, description="How long processed log records (and their dedup ids) are kept."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base of the links put in notifications."
    )
    signing_secret: str | None = Field(
        None,
        description="Signs unsubscribe links; embedded default: generated into data_dir.",
    )
    notify_max_age_hours: float = Field(
        24.0, description="Milestones older than this when first seen (backfills) notify nobody."
    )
    notify_backoff_seconds: float = Field(
        2.0, description="First retry after about this long, doubling (with jitter) per retry."
    )
    templates_dir: Path | None = Field(
        None, description="Folder of Jinja2 templates overriding the built-in ones, file by file."
    )
    email_from: str = Field(
        "parcelstream <tracking@localhost>", description="Sender of notification e-mails."
    )
    smtp_url: str | None = Field(None, description="smtp://[user:pass@]host:port for e-mail.")
    sendgrid_api_key: str | None = Field(None, description="Sends e-mail through SendGrid.")
    sendgrid_base_url: str = Field("https://api.sendgrid.com", description="SendGrid API base.")
    twilio_account_sid: str | None = Field(None, description="Sends SMS through Twilio.")
    twilio_auth_token: str | None = Field(None, description="Twilio auth token.")
    twilio_from: str | None = Field(None, description="Twilio sender number (E.164).")
    twilio_base_url: str = Field("https://api.twilio.com", description="Twilio API base.")
    sendgrid_webhook_public_key: str | None = Field(
        None, description="Verifies SendGrid's signed event webhook (base64 DER public key)."
    )
    fcm_project_id: str | None = Field(None, description="Sends push through FCM HTTP v1.")
    fcm_service_account_file: Path | None = Field(
        None, description="The Firebase service account JSON key file."
    )
    fcm_base_url: str = Field("https://fcm.googleapis.com", description="FCM API base.")
    blob_url: str | None = Field(
        None,
        description="Proof-of-delivery files and CSV drops on S3-compatible storage "
        "(s3://bucket/prefix?endpoint=…); unset means the folder data_dir/blobs.",
    )
    blob_access_key_id: str | None = Field(
        None, description="S3 access key, when the blob URL carries none."
    )
    blob_secret_access_key: str | None = Field(
        None, description="S3 secret key, when the blob URL carries none."
    )
    proof_max_file_bytes: int = Field(
        10 * 1024 * 1024, description="Largest proof-of-delivery image accepted (413 beyond)."
    )
    proof_max_photos: int = Field(5, description="Most photos one delivery scan may carry.")
    proof_link_seconds: int = Field(
        300, description="How long a proof-of-delivery image link stays valid."
    )
    drops_url: str | None = Field(
        None,
        description="Where facility systems drop CSV files: a folder, or "
        "s3://bucket/prefix?endpoint=… (blob credentials apply); unset means the drops/ prefix "
        "of blob_url, or else data_dir/drops.",
    )
    drops_poll_seconds: float = Field(5.0, description="How often the drop watcher looks.")
    drops_settle_seconds: float = Field(
        2.0, description="A dropped .csv file is taken once unchanged for this long."
    )
    ups_api_url: str | None = Field(
        None,
        description="Polls UPS: https://CLIENT_ID:SECRET@onlinetools.ups.com[?rate=&daily=&"
        "concurrency=&subscribe=true]; unset means UPS is not polled.",
    )
    fedex_api_url: str | None = Field(
        None, description="Polls FedEx: https://CLIENT_ID:SECRET@apis.fedex.com[?options]."
    )
    usps_api_url: str | None = Field(
        None, description="Polls USPS: https://CLIENT_ID:SECRET@apis.usps.com[?options]."
    )
    poll_interval_scale: float = Field(
        1.0,
        description="Multiplies every polling interval, silence threshold and subscription"
        " lifetime (0.5 polls twice as often; tests run days in seconds).",
    )
    ups_webhook_client_id: str | None = Field(
        None,
        description="UPS Track Alert v2: the client id registered on the UPS portal for our token"
        " endpoint; pushes must send it as x-api-key.",
    )
    ups_webhook_client_secrets: str | None = Field(
        None, description="UPS v2 client secrets, comma-separated (new,old while rotating)."
    )
    ups_webhook_token_ttl_seconds: float = Field(
        3600.0, description="Lifetime of the bearer tokens our UPS token endpoint issues."
    )
    ups_webhook_credentials: str | None = Field(
        None, description="UPS Track Alert v1 credentials, comma-separated (new,old)."
    )
    ups_webhook_credential_header: str = Field(
        "authorization",
        description="Where UPS v1 puts the credential: 'authorization' (<type> <credential>)"
        " or another header name such as 'credential'.",
    )
    fedex_webhook_secrets: str | None = Field(
        None, description="FedEx AIV security tokens, comma-separated (new,old while rotating)."
    )
    usps_webhook_secrets: str | None = Field(
        None, description="USPS subscription secrets, comma-separated (new,old while rotating)."
    )
    usps_webhook_signature_header: str = Field(
        "X-HMAC", description="Header carrying the USPS push signature."
    )
    usps_webhook_signature_encoding: Literal["base64", "hex"] = Field(
        "base64", description="Encoding of the USPS signature."
    )
    usps_webhook_signed_message: Literal["timestamp+payload", "body"] = Field(
        "timestamp+payload",
        description="What USPS signs: the envelope's timestamp and payload strings, or the raw"
        " body.",
    )
    usps_webhook_tolerance_seconds: float = Field(
        300.0, description="USPS pushes signed further than this from now are refused as stale."
    )
    eta_enabled: bool = Field(
        True,
        description="Estimated delivery: the processor requests estimates, serve runs the worker.",
    )
    eta_training_days: float = Field(
        28.0, description="Deliveries of this many last days teach the EDD statistics."
    )
    eta_refresh_seconds: float = Field(
        3600.0, description="How often the EDD worker relearns its statistics."
    )
    eta_batch_size: int = Field(1000, description="EDD requests the worker takes at once.")
    eta_serve_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Inside serve, the most of the process's time the EDD worker takes.",
    )
