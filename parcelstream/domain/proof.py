"""Proof of delivery and carrier delivery windows: what a delivery or a carrier adds to a scan.

Only references live here; the files themselves sit in the blob store, named by key and checked by
their SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProofFile:
    kind: str
    """"signature" or "photo"."""
    key: str
    """Where the blob store keeps it."""
    sha256: str
    """Hex digest of the stored bytes."""
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class GeoPoint:
    latitude: float
    longitude: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class Proof:
    """Evidence of a delivery. The signer's name and the files are private to the recipient."""

    signed_by: str | None = None
    files: tuple[ProofFile, ...] = ()
    location: GeoPoint | None = None
    left_at: str | None = None
    """Where it was left, as the driver or carrier says ("Front door")."""


@dataclass(frozen=True, slots=True)
class DeliveryWindow:
    """A delivery promise a carrier gave with a scan, as UTC epoch microseconds."""

    earliest: int
    latest: int
