"""How good the estimates are, measured on a simulated fortnight in-process (no server needed):
learn from the packages delivered in week one, then replay week two scan by scan in send order,
estimate after every new scan as the worker would, and compare with when each package was in fact
delivered. Two baselines are scored in the same run: the service-level promise alone, and the
lane's statistics alone.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from parcelstream.domain.estimate import Estimate, estimate
from parcelstream.domain.estimate_calibration import CalibratedBuilder
from parcelstream.domain.estimate_stats import EtaStats
from parcelstream.domain.packages import Package
from parcelstream.domain.scans import DedupKey, Scan
from parcelstream.domain.status import derive_status
from parcelstream.ingest.schemas import PackageIn, ScanIn
from parcelstream.ingest.validation import package_from_wire, scan_from_wire
from parcelstream.sim.faults import Faults
from parcelstream.sim.scenario import SimPackage, SimScan, generate

DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)
"""A Monday, so each week of the fortnight is a whole calendar week."""
_HOUR = 3_600_000_000
_US = 1_000_000


@dataclass(slots=True)
class Tally:
    """Estimates scored against the truth."""

    inside: int = 0
    widths: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)

    def add(self, guess: Estimate, delivered: int) -> None:
        self.inside += guess.earliest <= delivered <= guess.latest
        self.widths.append((guess.latest - guess.earliest) / _HOUR)
        self.errors.append(abs(guess.at - delivered) / _HOUR)

    def figures(self) -> dict[str, Any]:
        count = len(self.widths)
        if not count:
            return {"estimates": 0, "coverage": None, "median_width_hours": None, "mae_hours": None}
        return {
            "estimates": count,
            "coverage": round(self.inside / count, 4),
            "median_width_hours": round(statistics.median(self.widths), 2),
            "mae_hours": round(statistics.fmean(self.errors), 2),
        }


@dataclass(slots=True)
class Scorer:
    """One estimator's tallies, overall and by status at estimate time."""

    overall: Tally = field(default_factory=Tally)
    by_status: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_source: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    sources: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, status: str, guess: Estimate, delivered: int) -> None:
        self.overall.add(guess, delivered)
        self.by_status[status].add(guess, delivered)
        self.by_source[guess.source].add(guess, delivered)
        self.sources[guess.source] += 1

    def figures(self) -> dict[str, Any]:
        return {
            **self.overall.figures(),
            "by_status": {s: t.figures() for s, t in sorted(self.by_status.items())},
            "by_source": {s: t.figures() for s, t in sorted(self.by_source.items())},
            "sources": dict(sorted(self.sources.items())),
        }


def evaluate(
    seed: int = 7,
    packages_per_day: int = 1000,
    *,
    start: datetime = DEFAULT_START,
    faults: Faults | None = None,
) -> dict[str, Any]:
    """The figures `parcelstream eta evaluate --json` prints."""
    scenario = generate(seed, start, 14, packages_per_day, faults or Faults())
    split = int((start + timedelta(days=7)).timestamp() * _US)
    delivered_at = {
        t.tracking_number: int(t.delivered_at.timestamp() * _US)
        for t in scenario.truths
        if t.outcome == "delivered" and t.delivered_at is not None
    }
    packages: dict[str, Package] = {}
    histories: dict[str, list[Scan]] = defaultdict(list)
    seen: set[DedupKey] = set()
    events = list(scenario.events())
    position = 0
    for position, event in enumerate(events):  # noqa: B007 - week two starts where this stops
        sent = _micros(event.sent_at)
        if sent >= split:
            break
        _receive(event, sent, packages, histories, seen)

    stats = _train(packages, histories)
    lane_only = EtaStats(lanes=stats.lanes, calendars=stats.calendars)
    no_history = EtaStats()
    scorers = {"model": Scorer(), "service_level": Scorer(), "lane_median": Scorer()}
    model_cpu = 0.0
    for event in events[position:]:
        sent = _micros(event.sent_at)
        scan = _receive(event, sent, packages, histories, seen)
        if scan is None:
            continue
        delivered = delivered_at.get(scan.tracking_number)
        if delivered is None:
            continue  # returned, or not delivered before the scenario ends: nothing to score
        state = derive_status(histories[scan.tracking_number])
        package = packages.get(scan.tracking_number)
        started = time.process_time()
        guess = estimate(package, state, stats, sent)
        model_cpu += time.process_time() - started
        if guess is not None:
            scorers["model"].add(state.status, guess, delivered)
        for name, used in (("service_level", no_history), ("lane_median", lane_only)):
            guess = estimate(package, state, used, sent)
            if guess is not None:
                scorers[name].add(state.status, guess, delivered)

    model = scorers["model"].figures()
    figures: dict[str, Any] = {
        **model,
        "baselines": {name: scorers[name].figures() for name in ("service_level", "lane_median")},
        "scenario": {
            "seed": seed,
            "packages_per_day": packages_per_day,
            "start": start.isoformat(),
            "days": 14,
            "faults": (faults or Faults()).to_json(),
        },
        "cost": {
            "model_estimates": model["estimates"],
            "model_cpu_seconds": round(model_cpu, 2),
            "model_estimates_per_cpu_second": round(model["estimates"] / model_cpu)
            if model_cpu
            else None,
        },
        "training": {
            "deliveries": stats.deliveries,
            "prices": dict(sorted(stats.prices.items())),
            "statistics": len(stats.remaining) + len(stats.lanes),
            "calendars": {s or "": sorted(c) for s, c in sorted(stats.calendars.items(), key=str)},
        },
    }
    figures["targets"] = targets_met(figures)
    return figures


def targets_met(figures: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets, one by one."""
    service = figures["baselines"]["service_level"]
    after_ofd = figures["by_status"].get("OUT_FOR_DELIVERY", {})
    return {
        "coverage_at_least_90_percent": figures["coverage"] >= 0.9,
        "median_width_at_most_24_hours": figures["median_width_hours"] <= 24,
        "after_out_for_delivery_width_at_most_4_hours": (
            after_ofd.get("median_width_hours") is not None and after_ofd["median_width_hours"] <= 4
        ),
        "mae_40_percent_below_service_level": figures["mae_hours"] <= 0.6 * service["mae_hours"],
    }


def _train(packages: dict[str, Package], histories: dict[str, list[Scan]]) -> EtaStats:
    builder = CalibratedBuilder()
    for tn, history in histories.items():
        builder.add(packages.get(tn), derive_status(history))
    return builder.build()


def _receive(
    event: SimPackage | SimScan,
    sent: int,
    packages: dict[str, Package],
    histories: dict[str, list[Scan]],
    seen: set[DedupKey],
) -> Scan | None:
    """Take one event in as the server would; the scan if it was new (resends change nothing)."""
    if isinstance(event, SimPackage):
        registered = package_from_wire(msgspec.convert(event.body, PackageIn), sent)
        if isinstance(registered, Package):
            packages[registered.tracking_number] = registered
        return None
    scan = scan_from_wire(msgspec.convert(event.body, ScanIn), sent)
    if not isinstance(scan, Scan) or scan.dedup_key in seen:
        return None
    seen.add(scan.dedup_key)
    histories[scan.tracking_number].append(scan)
    return scan


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def render_report(figures: dict[str, Any]) -> str:
    """The figures as a table for people: the model and both baselines, overall and by status."""
    rows = [("model", "all", figures)]
    rows += [("model", s, f) for s, f in figures["by_status"].items()]
    for name, baseline in figures["baselines"].items():
        rows.append((name, "all", baseline))
        rows += [(name, s, f) for s, f in baseline["by_status"].items()]
    lines = [
        f"{'estimator':<14} {'status at estimate':<20} {'estimates':>9} {'inside':>7}"
        f" {'median width h':>14} {'MAE h':>7}"
    ]
    for name, status, f in rows:
        coverage = "-" if f["coverage"] is None else f"{f['coverage']:.1%}"
        width = "-" if f["median_width_hours"] is None else f"{f['median_width_hours']:.1f}"
        mae = "-" if f["mae_hours"] is None else f"{f['mae_hours']:.1f}"
        lines.append(
            f"{name:<14} {status:<20} {f['estimates']:>9} {coverage:>7} {width:>14} {mae:>7}"
        )
    met = figures["targets"]
    lines.append("")
    lines += [
        f"{'met' if ok else 'NOT met'}: {target.replace('_', ' ')}" for target, ok in met.items()
    ]
    lines.append(
        f"sources: {figures['sources']}; trained on {figures['training']['deliveries']} deliveries"
    )
    for source, f in figures["by_source"].items():
        lines.append(
            f"  {source}: {f['coverage']:.1%} inside, median width {f['median_width_hours']:.1f} h,"
            f" MAE {f['mae_hours']:.1f} h"
        )
    return "\n".join(lines)
