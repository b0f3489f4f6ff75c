"""`parcelstream fake-carrier` as a real process playing a simulator scenario file, pushing to
our server, which polls it when the pushes go quiet: the package ends delivered with the
scenario's whole history, its weather delay and failed attempt included."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from tests.carriers.harness import API_ID, API_SECRET, USPS_SECRET, LiveApp, settings_for
from tests.e2e.harness import child_env, free_port

TN = "9405508988657321041195"
PHILLY = {"city": "Philadelphia", "region": "PA", "postal_code": "19104", "country": "US"}
KC = {"city": "Kansas City", "region": "MO", "postal_code": "64101", "country": "US"}
TUCSON = {"city": "Tucson", "region": "AZ", "postal_code": "85705", "country": "US"}
SCANS: list[tuple[str, str, dict[str, str], str | None]] = [
    ("2026-11-18T10:02:00-05:00", "LABEL_CREATED", PHILLY, None),
    ("2026-11-18T15:31:00-05:00", "PICKED_UP", PHILLY, None),
    ("2026-11-18T19:02:00-05:00", "ARRIVED_AT_FACILITY", PHILLY, None),
    ("2026-11-18T23:14:00-05:00", "DEPARTED_FACILITY", PHILLY, None),
    ("2026-11-19T16:30:00-06:00", "EXCEPTION", KC, "WEATHER_DELAY"),
    ("2026-11-21T22:48:00-07:00", "ARRIVED_AT_FACILITY", TUCSON, None),
    ("2026-11-22T07:05:00-07:00", "OUT_FOR_DELIVERY", TUCSON, None),
    ("2026-11-22T16:17:00-07:00", "DELIVERY_ATTEMPTED", TUCSON, None),
    ("2026-11-23T07:10:00-07:00", "OUT_FOR_DELIVERY", TUCSON, None),
    ("2026-11-23T11:42:00-07:00", "DELIVERED", TUCSON, None),
]


def scenario_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [{"kind": "scenario", "name": "usps weather and a retry"}]
    lines.append(
        {
            "kind": "package",
            "sent_at": "2026-11-18T15:02:00Z",
            "body": {
                "tracking_number": TN,
                "carrier": "usps",
                "origin": PHILLY,
                "destination": TUCSON,
            },
        }
    )
    for at, code, place, exception in SCANS:
        scan: dict[str, Any] = {
            "tracking_number": TN,
            "facility_id": f"{place['city'][:3].upper()}-01",
            "timestamp": at,
            "status_code": code,
            "location": place,
        }
        if exception:
            scan["exception_code"] = exception
        lines.append({"kind": "scan", "sent_at": at, "body": scan})
    return lines


def test_the_fake_carrier_process_plays_a_scenario_to_a_pushed_and_polled_server(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "scenario.jsonl"
    scenario.write_text("".join(json.dumps(line) + "\n" for line in scenario_lines()))
    port = free_port()
    fake_url = f"http://127.0.0.1:{port}"
    settings = settings_for(tmp_path / "app", "usps", push=True, poll=True, fake_url=fake_url)
    app = LiveApp(settings)
    log = (tmp_path / "fake.log").open("wb")
    fake = subprocess.Popen(
        [
            sys.executable, "-m", "parcelstream.cli", "fake-carrier", "usps",
            "--port", str(port), "--scenario", str(scenario), "--scale", "0",
            "--client-id", API_ID, "--client-secret", API_SECRET,
            "--webhook-url", f"{app.url}/v1/webhooks/carrier/usps",
            "--webhook-secret", USPS_SECRET, "--retry-interval", "0.2",
        ],
        stdout=log, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True,
    )  # fmt: skip
    try:
        admin = httpx2.Client(base_url=f"{fake_url}/_fake", timeout=5)
        deadline = time.monotonic() + 20
        while True:
            try:
                admin.get("/stats").raise_for_status()
                break
            except httpx2.TransportError:
                assert fake.poll() is None, (tmp_path / "fake.log").read_text()
                assert time.monotonic() < deadline, "the fake carrier did not start"
                time.sleep(0.05)
        with app:
            app.register(TN, "usps")
            admin.post("/clock", json={"to": SCANS[4][0]}).raise_for_status()
            app.wait_for(TN, lambda d: len(d["events"]) == 5)
            # Pushes go quiet: within a few (scaled) hours the poller asks for itself.
            deadline = time.monotonic() + 5
            while admin.get("/stats").json()["track_requests"] == 0:
                assert time.monotonic() < deadline, "the quiet package was never polled"
                time.sleep(0.05)
            admin.post("/clock", json={"to": SCANS[-1][0]}).raise_for_status()
            document = app.wait_for(TN, lambda d: d["status"] == "DELIVERED")
            assert len(document["events"]) == len(SCANS)
            codes = [e["status_code"] for e in reversed(document["events"])]
            assert codes[0] == "LABEL_CREATED"
            assert "EXCEPTION" in codes
            assert "DELIVERY_ATTEMPTED" in codes
            stats = admin.get("/stats").json()
            assert stats["pushes"] >= len(SCANS)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        log.close()
