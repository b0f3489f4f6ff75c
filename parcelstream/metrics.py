"""Process counters in Prometheus' text format, served at GET /metrics.

Each process counts its own; with several `parcelstream api` workers, scrape each one (or run
them with prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry()

CARRIER_UNKNOWN_CODES = Counter(
    "parcelstream_carrier_unknown_codes",
    "Carrier event codes our tables do not know; each was kept as a scan mapped by its class.",
    ["carrier", "code"],
    registry=REGISTRY,
)
CARRIER_PUSHES = Counter(
    "parcelstream_carrier_pushes",
    "Carrier pushes received, by outcome (accepted, unauthorized, stale, malformed).",
    ["carrier", "outcome"],
    registry=REGISTRY,
)
CARRIER_REJECTED_EVENTS = Counter(
    "parcelstream_carrier_rejected_events",
    "Events left out of an otherwise good carrier body because they could not be read.",
    ["carrier", "source"],
    registry=REGISTRY,
)

_MAX_LABEL = 40


def count_unknown_codes(carrier: str, codes: Iterable[str]) -> None:
    """Count carrier codes the adapters' tables missed (the poller and the webhooks both call)."""
    for code in codes:
        CARRIER_UNKNOWN_CODES.labels(carrier, code[:_MAX_LABEL]).inc()


def exposition() -> tuple[bytes, str]:
    """The current counters as Prometheus text, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
