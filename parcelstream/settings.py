"""Every setting, read from PARCELSTREAM_* environment variables; URLs pick the back ends."""

from __future__ import annotations

from pathlib import Path

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
    max_batch_scans: int = Field(5000, description="Most scans one POST /v1/scans may carry.")
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body accepted.")
    processor_batch_size: int = Field(5000, description="Log records the processor takes at once.")
    document_cache_size: int = Field(
        100_000, description="Tracking documents kept in memory by the embedded read model."
    )
    log_retention_hours: float = Field(
        168.0, description="How long processed log records (and their dedup ids) are kept."
    )
