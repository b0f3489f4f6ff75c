"""What goes wrong in the simulated network, and how often: the fault rates of a scenario."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault rates. The defaults are a plausible busy week; `Faults.none()` is a clean network."""

    missed_scan_rate: float = 0.02
    """Share of facility, pickup and out-for-delivery scans that are never sent (a scanner
    skipped a label). Delivery outcomes (delivered, attempted, exceptions) are never missed."""
    late_upload_share: float = 0.3
    """Share of facility scan windows (one facility, 30 s) uploaded late as one CSV-shaped
    batch instead of one by one; every scan in such a batch arrives up to 60 s after it happened."""
    late_upload_max_delay_s: float = 60.0
    offline_flush_share: float = 0.05
    """Share of driver-days on which the handheld loses signal for a while and flushes its
    buffered scans in one batch when it comes back (15 min to 3 h later)."""
    duplicate_rate: float = 0.01
    """Share of scans sent a second time (a device retry), seconds to minutes later."""
    weather_days_per_month: float = 1.0
    """Expected weather days per region (US state) per 30 days. On a weather day no linehaul
    leaves that region's facilities and its stations do not deliver."""
    failed_attempt_rate: float = 0.04
    """Share of delivery attempts that fail (nobody home, no access); the next attempt is the
    next business day, and after three failures the package goes back to its sender."""
    return_to_sender_rate: float = 0.005
    """Share of packages refused or undeliverable at the first attempt, and returned."""

    @classmethod
    def none(cls) -> Faults:
        return cls(**{f.name: 0.0 for f in fields(cls) if f.name != "late_upload_max_delay_s"})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in data.items() if k in known})
