"""What `parcelstream simulate` does, minus the option parsing: pick or build the scenario, save
it and its truth, send it, and describe the outcome."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from parcelstream.sim.driver import Summary
from parcelstream.sim.faults import Faults
from parcelstream.sim.scenario import Scenario, generate


def default_start(days: int, today: date) -> datetime:
    """Midnight UTC `days` days ago, so the whole scenario lies in the past: the server refuses
    scans dated more than a day ahead of its clock."""
    return datetime.combine(today - timedelta(days=days), time(), tzinfo=UTC)


def parse_start(text: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 date-time; a time without an offset is UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def scenario_for(
    replay: Path | None,
    seed: int,
    start: datetime,
    days: int,
    packages_per_day: int,
    faults: Faults,
) -> Scenario:
    if replay is not None:
        return Scenario.load(replay)
    return generate(seed, start, days, packages_per_day, faults)


def describe_scenario(scenario: Scenario) -> str:
    header = scenario.header
    scans = len(scenario.scans)
    return (
        f"scenario: seed {header.seed}, {header.days} days from {header.start.isoformat()},"
        f" {len(scenario.truths)} packages, {scans} scans"
    )


def describe_summary(summary: Summary) -> str:
    lines = [
        f"packages registered {summary.packages:,} (refused {summary.packages_rejected:,})",
        f"scans sent {summary.scans_sent:,}: accepted {summary.accepted:,}, rejected"
        f" {summary.rejected:,}, duplicates {summary.duplicates:,}",
        f"requests {summary.requests:,} (retries {summary.retries:,}) in {summary.elapsed_s:.1f} s:"
        f" {summary.rate:,.0f} scans/s",
    ]
    lines += [f"  refused: {reason}" for reason in summary.errors]
    return "\n".join(lines)
