"""What a generated scenario holds: valid packages and scans the server accepts, in send order,
and a ground truth that is exactly what the scans say."""

from __future__ import annotations

from collections import Counter

import msgspec

from parcelstream.domain.numbers import detect
from parcelstream.ingest.schemas import PackageIn, ScanIn
from parcelstream.ingest.validation import package_from_wire, scan_from_wire
from parcelstream.sim.scenario import SimPackage, SimScan
from parcelstream.sim.schedule import UPS_SERVICE_CODES

from .scenarios import happened, key, scenario


def test_every_tracking_number_is_a_valid_ups_number_that_carries_its_service() -> None:
    s = scenario("default")
    numbers = [p.body["tracking_number"] for p in s.packages]
    assert len(numbers) == len(set(numbers)) == len(s.truths)
    for package in s.packages:
        number = package.body["tracking_number"]
        detection = detect(number)
        assert detection.carrier == "ups", number
        assert number[8:10] == UPS_SERVICE_CODES[package.body["service_type"]]


def test_every_package_and_scan_passes_the_servers_own_validation() -> None:
    s = scenario("default")
    now_us = int(s.header.end.timestamp() * 1_000_000)
    for event in s.events():
        raw = msgspec.json.encode(event.body)
        if isinstance(event, SimPackage):
            result: object = package_from_wire(msgspec.json.decode(raw, type=PackageIn), now_us)
        else:
            result = scan_from_wire(msgspec.json.decode(raw, type=ScanIn), now_us)
        assert not isinstance(result, list), (event.body, result)


def test_events_come_in_send_order_and_each_package_before_any_scan_of_it() -> None:
    s = scenario("default")
    registered: set[str] = set()
    previous = None
    for event in s.events():
        assert previous is None or event.sent_at >= previous
        previous = event.sent_at
        number = event.body["tracking_number"]
        if isinstance(event, SimPackage):
            registered.add(number)
        else:
            assert number in registered


def test_no_scan_reaches_the_server_before_it_happens() -> None:
    s = scenario("default")
    for scan in s.scans:
        assert scan.sent_at >= happened(scan), scan
        assert happened(scan) < s.header.end


def test_truth_is_exactly_what_the_scans_say() -> None:
    s = scenario("default")
    by_package: dict[str, list[SimScan]] = {}
    for scan in s.scans:
        by_package.setdefault(scan.body["tracking_number"], []).append(scan)
    outcomes = Counter(t.outcome for t in s.truths)
    assert outcomes["delivered"] > 0
    assert outcomes["in_transit"] > 0
    assert outcomes["returned"] > 0
    for truth in s.truths:
        scans = by_package.get(truth.tracking_number, [])
        delivered = {happened(x) for x in scans if x.body["status_code"] == "DELIVERED"}
        returned = [x for x in scans if x.body.get("exception_code") == "RETURNED_TO_SENDER"]
        if truth.outcome == "delivered":
            assert delivered == {truth.delivered_at}
            assert not returned
        elif truth.outcome == "returned":
            assert returned
            assert not delivered
            assert truth.delivered_at is None
        else:
            assert truth.outcome == "in_transit"
            assert not delivered
            assert not returned
            assert truth.delivered_at is None
        picked = [happened(x) for x in scans if x.body["status_code"] == "PICKED_UP"]
        assert all(moment == truth.shipped_at for moment in picked)
        assert truth.shipped_at < truth.promised_by


def test_clean_network_truth_has_a_pickup_scan_for_every_package() -> None:
    s = scenario()
    picked = {
        x.body["tracking_number"]: happened(x)
        for x in s.scans
        if x.body["status_code"] == "PICKED_UP"
    }
    assert {t.tracking_number: t.shipped_at for t in s.truths} == picked


def test_journeys_give_each_packages_distinct_scans_in_event_order() -> None:
    s = scenario("default")
    journeys = s.journeys()
    assert set(journeys) == {t.tracking_number for t in s.truths}
    distinct = {key(x) for x in s.scans}
    assert sum(len(j) for j in journeys.values()) == len(distinct)
    for number, journey in journeys.items():
        assert all(x.body["tracking_number"] == number for x in journey)
        moments = [happened(x) for x in journey]
        assert moments == sorted(moments)
        assert len({key(x) for x in journey}) == len(journey)
