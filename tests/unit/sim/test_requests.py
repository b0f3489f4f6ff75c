"""How the driver cuts a scenario into requests: every scan once and in order, a facility's batch
upload or a handheld's flush never split, each package before the request with its first scan."""

from __future__ import annotations

from collections import Counter

from parcelstream.sim.driver import Pacing, requests
from parcelstream.sim.scenario import SimPackage, SimScan

from .scenarios import scenario


def test_requests_keep_every_upload_whole_and_packages_first() -> None:
    events = list(scenario("sending").events())
    scans = [e for e in events if isinstance(e, SimScan)]
    uploads = Counter(scan.sent_at for scan in scans)
    assert max(uploads.values()) >= 3
    sent: list[SimScan] = []
    registered: set[str] = set()
    batches = 0
    for request in requests(events, 40):
        if isinstance(request, SimPackage):
            registered.add(request.body["tracking_number"])
            continue
        batches += 1
        assert all(scan.body["tracking_number"] in registered for scan in request)
        in_batch = Counter(scan.sent_at for scan in request)
        assert all(in_batch[moment] == uploads[moment] for moment in in_batch)
        assert len(request) < 40 + max(in_batch.values())
        sent.extend(request)
    assert sent == scans
    assert batches >= len(scans) // (40 + max(uploads.values()))


def test_a_paced_run_sends_a_request_about_every_tenth_of_a_second() -> None:
    assert Pacing(rate=3000).scans_per_request == 300
    assert Pacing(rate=10).scans_per_request == 1
    assert Pacing(rate=1_000_000).scans_per_request == 500
    assert Pacing().scans_per_request == 500
