"""How a journey's scans reach the server: the wire body of each, and when it is sent: on time,
never (missed), late in a facility's CSV-shaped batch, flushed from an offline handheld, twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parcelstream.sim.draws import SeededDraws
from parcelstream.sim.faults import Faults
from parcelstream.sim.journeys import Step
from parcelstream.sim.schedule import at_local, local_date

_MISSABLE = frozenset(
    {
        "PICKED_UP",
        "ARRIVED_AT_FACILITY",
        "PROCESSED_AT_FACILITY",
        "DEPARTED_FACILITY",
        "OUT_FOR_DELIVERY",
    }
)
_US = 1_000_000


def wire_scan(tracking_number: str, step: Step, address: dict[str, str]) -> dict[str, Any]:
    """The scan as a scanner sends it: local time with the facility's UTC offset."""
    body: dict[str, Any] = {
        "tracking_number": tracking_number,
        "facility_id": step.facility.facility_id,
        "timestamp": datetime.fromtimestamp(step.at, step.facility.zone).isoformat(),
        "status_code": step.code,
    }
    if step.exception is not None:
        body["exception_code"] = step.exception
    if step.employee is not None:
        body["employee_id"] = step.employee
    if step.at_address:
        body["location"] = {
            "city": address["city"],
            "region": address["region"],
            "postal_code": address["postal_code"],
            "country": address["country"],
        }
    else:
        body["location"] = step.facility.location()
    return body


def send_times(step: Step, faults: Faults, draws: SeededDraws) -> list[int]:
    """When the scan reaches the server (UTC epoch microseconds): none if it is missed, two if a
    device sends it twice."""
    # The same draws whatever the rates, so changing one fault rate leaves the rest of the
    # scenario as it was (tests compare a faulty network with a clean one, scan for scan).
    missed = draws.chance(faults.missed_scan_rate)
    twice = draws.chance(faults.duplicate_rate)
    latency = draws.uniform(0.0, 1.0)
    resend_after = draws.uniform(2.0, 900.0)
    if missed and step.code in _MISSABLE:
        return []
    if step.by_driver:
        sent = _handheld_time(step, faults, draws, latency)
    else:
        sent = _scanner_time(step, faults, draws, latency)
    if not twice:
        return [sent]
    return [sent, sent + int(resend_after * _US)]


def _scanner_time(step: Step, faults: Faults, draws: SeededDraws, latency: float) -> int:
    """Facility scanners send each scan within seconds, except in windows where the facility's
    uploads go by batch file: then every scan of the window arrives together, late."""
    window = faults.late_upload_max_delay_s / 2
    facility = step.facility.facility_id
    slot = int(step.at // window) if window > 0 else 0
    if window > 0 and draws.keyed("late", facility, slot) < faults.late_upload_share:
        delay = draws.keyed("late-delay", facility, slot)
        # One instant for the whole batch (to the microsecond), so it travels as one upload.
        return int(((slot + 1) * window + delay * window) * _US)
    return int((step.at + 0.3 + 2.7 * latency) * _US)


def _handheld_time(step: Step, faults: Faults, draws: SeededDraws, latency: float) -> int:
    """A driver's handheld sends at once unless it has lost signal; then it keeps the scans and
    flushes them all when it is back online."""
    driver = step.employee or step.facility.facility_id
    zone = step.facility.zone
    day = local_date(step.at, zone)
    if draws.keyed("offline", driver, day) < faults.offline_flush_share:
        lost = at_local(zone, day, 9.5) + draws.keyed("offline-at", driver, day) * 6 * 3600
        back = lost + (0.25 + 2.75 * draws.keyed("offline-for", driver, day)) * 3600
        if lost <= step.at < back:
            return int(back * _US) + int(draws.keyed("flush", driver, day) * 1000)
    return int((step.at + 1.0 + 9.0 * latency) * _US)
