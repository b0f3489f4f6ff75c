"""Each fault shows up at about its rate, and only as described. A faulty scenario is compared
with the clean one of the same seed: the journeys are the same, only the sending differs."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from parcelstream.sim.faults import Faults
from parcelstream.sim.scenario import SimScan

from .scenarios import DAYS, happened, key, scenario

OUTCOMES = ("DELIVERED", "DELIVERY_ATTEMPTED", "EXCEPTION")


def _delay(scan: SimScan) -> float:
    return (scan.sent_at - happened(scan)).total_seconds()


def _first_sends(scans: list[SimScan]) -> list[SimScan]:
    """Without the resends (a resend comes up to 15 minutes after the first copy)."""
    seen: set[tuple[str, str, str, str]] = set()
    firsts = []
    for scan in scans:
        if key(scan) not in seen:
            seen.add(key(scan))
            firsts.append(scan)
    return firsts


def test_missed_scans_come_at_their_rate_and_never_hide_an_outcome() -> None:
    clean = {key(x): x for x in scenario().scans}
    faulty = {key(x) for x in scenario("sending").scans}
    assert faulty <= set(clean)
    missing = [clean[k] for k in set(clean) - faulty]
    assert all(x.body["status_code"] not in OUTCOMES for x in missing)
    missable = sum(1 for x in clean.values() if x.body["status_code"] not in OUTCOMES)
    assert 0.085 < len(missing) / missable < 0.115


def test_duplicates_are_the_same_scan_sent_again_later_at_their_rate() -> None:
    scans = scenario("sending").scans
    seen: dict[tuple[str, str, str, str], SimScan] = {}
    resent = 0
    for scan in scans:
        first = seen.setdefault(key(scan), scan)
        if first is not scan:
            assert first.body == scan.body
            assert scan.sent_at - first.sent_at >= timedelta(seconds=2)
            resent += 1
    assert 0.04 < resent / len(seen) < 0.06
    assert set(seen) <= {key(x) for x in scenario().scans}


def test_late_facility_uploads_arrive_within_a_minute_as_one_batch_per_facility() -> None:
    scans = _first_sends(scenario("sending").scans)
    facility_scans = [x for x in scans if "employee_id" not in x.body]
    batches: dict[object, list[SimScan]] = defaultdict(list)
    for scan in facility_scans:
        assert 0 < _delay(scan) <= 60
        if _delay(scan) > 3:
            batches[scan.sent_at].append(scan)
    late = sum(len(b) for b in batches.values())
    assert 0.25 < late / len(facility_scans) < 0.35
    for batch in batches.values():
        assert len({x.body["facility_id"] for x in batch}) == 1
    assert max(len(b) for b in batches.values()) >= 3  # a truck unloaded, scanned, uploaded


def test_offline_handhelds_flush_their_buffered_scans_together() -> None:
    scans = _first_sends(scenario("sending").scans)
    flushes: dict[object, list[SimScan]] = defaultdict(list)
    driver_scans = [x for x in scans if "employee_id" in x.body]
    for scan in driver_scans:
        if _delay(scan) > 10:
            flushes[scan.sent_at].append(scan)
    flushed = sum(len(f) for f in flushes.values())
    assert 0.01 < flushed / len(driver_scans) < 0.2
    assert max(len(f) for f in flushes.values()) >= 3
    for flush in flushes.values():
        assert len({x.body["employee_id"] for x in flush}) == 1
        assert all(_delay(x) <= 3.25 * 3600 for x in flush)
    assert all(0 < _delay(x) <= 60 for x in scans if "employee_id" not in x.body)


def test_failed_attempts_come_at_their_rate() -> None:
    codes = Counter(x.body["status_code"] for x in scenario("trips").scans)
    attempts = codes["DELIVERED"] + codes["DELIVERY_ATTEMPTED"]
    assert 0.13 < codes["DELIVERY_ATTEMPTED"] / attempts < 0.17


def test_packages_go_back_to_their_senders_at_the_return_rate() -> None:
    s = scenario("trips")
    finished = Counter(t.outcome for t in s.truths if t.outcome != "in_transit")
    assert 0.035 < finished["returned"] / finished.total() < 0.07
    journeys = s.journeys()
    for truth in s.truths:
        if truth.outcome == "returned":
            journey = journeys[truth.tracking_number]
            refused = [x for x in journey if x.body.get("exception_code") == "REFUSED"]
            attempts = [x for x in journey if x.body["status_code"] == "DELIVERY_ATTEMPTED"]
            assert len(refused) == 1 or len(attempts) == 3


def test_weather_days_come_at_their_rate_per_region() -> None:
    s = scenario("trips")
    start, end = s.header.start.date(), s.header.end.date()
    days = [w for w in s.weather_days if start <= w[1] < end]
    regions = {x.body["location"]["region"] for x in s.scans}
    assert 0.08 < len(days) / (len(regions) * DAYS) < 0.19


def test_the_default_network_has_every_fault_and_a_clean_one_none() -> None:
    def faults_in(s: object) -> set[str]:
        scans = s.scans  # type: ignore[attr-defined]
        found = set()
        keys = Counter(key(x) for x in scans)
        if any(n > 1 for n in keys.values()):
            found.add("duplicate")
        if any(_delay(x) > 10 for x in scans):
            found.add("late")
        exceptions = {x.body.get("exception_code") for x in scans}
        found |= {"weather"} & {"weather" for e in exceptions if e == "WEATHER_DELAY"}
        if any(x.body["status_code"] == "DELIVERY_ATTEMPTED" for x in scans):
            found.add("attempt")
        if "RETURNED_TO_SENDER" in exceptions:
            found.add("return")
        return found

    assert faults_in(scenario("default")) == {"duplicate", "late", "weather", "attempt", "return"}
    assert faults_in(scenario()) == set()
    assert Faults.none().missed_scan_rate == 0
    assert Faults().missed_scan_rate > 0
