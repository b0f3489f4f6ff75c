"""The issue's "done when", as a new user would walk it: start the server, create a key with the
CLI, register a package, send its scans out of order with resends and bad items mixed in, and read
the result back over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx2
import pytest

from .harness import Server, ServerFactory, create_key
from .workload import Scan, recent_start, rfc3339

pytestmark = pytest.mark.slow

NUMBER = "1Z5R89390357567127"
UNKNOWN_VALID = "1Z879E930346834440"
SIDE_NUMBER = "1Z410E7W0392751591"

SHIPPER = {"name": "Harriet Quimby-Vance", "email": "h.quimby@example.org", "phone": "+14045550187"}
RECIPIENT = {
    "name": "Octavia Brightwater",
    "email": "octavia.b@example.net",
    "phone": "+14155550142",
}
ORIGIN = {
    "line1": "1185 Peachtree Street NE",
    "line2": "Suite 410",
    "city": "Atlanta",
    "region": "GA",
    "postal_code": "30309",
    "country": "US",
}
DESTINATION = {
    "line1": "2201 Mission Street",
    "line2": "Apt 7C",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94110",
    "country": "US",
}
EMPLOYEE = "EMP-77123"
PRIVATE_STRINGS = [
    *SHIPPER.values(),
    *RECIPIENT.values(),
    ORIGIN["line1"],
    ORIGIN["line2"],
    ORIGIN["postal_code"],
    DESTINATION["line1"],
    DESTINATION["line2"],
    DESTINATION["postal_code"],
    "Harriet",
    "Quimby",
    "Octavia",
    "Brightwater",
    "Peachtree",
    "Mission",
    "example.org",
    "example.net",
    "5550187",
    "5550142",
    "Suite",
    EMPLOYEE,
    # postal codes of the scan locations: kept in history, never published
    "30318",
    "75261",
    "94621",
]

ATL = {"city": "Atlanta", "region": "GA", "postal_code": "30318", "country": "US"}
DFW = {"city": "Dallas", "region": "TX", "postal_code": "75261", "country": "US"}
OAK = {"city": "Oakland", "region": "CA", "postal_code": "94621", "country": "US"}
SFO = {"city": "San Francisco", "region": "CA", "postal_code": "94110", "country": "us"}
PUBLIC_SFO = {"city": "San Francisco", "region": "CA", "country": "US"}

# (hours after the start, UTC offset in minutes, status code, facility, location, exception code)
TIMELINE: list[tuple[int, int, str, str, dict[str, str] | None, str | None]] = [
    (0, -300, "LABEL_CREATED", "SHIPPER-ATL-1", ATL, None),  # 0
    (3, -300, "PICKED_UP", "ATL-PKUP", ATL, None),  # 1
    (5, -300, "ARRIVED_AT_FACILITY", "ATL-HUB", ATL, None),  # 2
    (6, -300, "PROCESSED_AT_FACILITY", "ATL-HUB", ATL, None),  # 3
    (8, -300, "DEPARTED_FACILITY", "ATL-HUB", ATL, None),  # 4
    (14, 0, "IN_TRANSIT", "LINEHAUL-7", None, None),  # 5
    (20, -360, "ARRIVED_AT_FACILITY", "DFW-HUB", DFW, None),  # 6
    (22, -360, "EXCEPTION", "DFW-HUB", DFW, "WEATHER_DELAY"),  # 7
    (26, -360, "PROCESSED_AT_FACILITY", "DFW-HUB", DFW, None),  # 8
    (28, -360, "DEPARTED_FACILITY", "DFW-HUB", DFW, None),  # 9
    (36, 0, "IN_TRANSIT", "LINEHAUL-9", None, None),  # 10
    (44, -480, "ARRIVED_AT_FACILITY", "OAK-HUB", OAK, None),  # 11
    (45, -480, "PROCESSED_AT_FACILITY", "OAK-HUB", OAK, None),  # 12
    (47, -480, "DEPARTED_FACILITY", "OAK-HUB", OAK, None),  # 13
    (49, -480, "ARRIVED_AT_FACILITY", "SFO-LOCAL", SFO, None),  # 14
    (50, -480, "OUT_FOR_DELIVERY", "SFO-LOCAL", SFO, None),  # 15
    (54, -480, "DELIVERY_ATTEMPTED", "SFO-LOCAL", SFO, "NO_ACCESS"),  # 16
    (72, -480, "OUT_FOR_DELIVERY", "SFO-LOCAL", SFO, None),  # 17: same instant as 18
    (72, -480, "DELIVERED", "SFO-LOCAL", SFO, None),  # 18
    (75, -480, "ARRIVED_AT_FACILITY", "SFO-LOCAL", SFO, None),  # 19: after delivery
]


def build_scans() -> list[Scan]:
    start = recent_start(days_ago=4)
    scans: list[Scan] = []
    for hours, offset, code, facility, location, exception in TIMELINE:
        scan: Scan = {
            "tracking_number": NUMBER,
            "facility_id": facility,
            "timestamp": rfc3339(start + timedelta(hours=hours), offset),
            "status_code": code,
            "employee_id": EMPLOYEE,
        }
        if location is not None:
            scan["location"] = dict(location)
        if exception is not None:
            scan["exception_code"] = exception
        scans.append(scan)
    return scans


def wait_for(
    client: httpx2.Client,
    number: str,
    ready: Callable[[httpx2.Response], bool],
    timeout: float = 10.0,
) -> httpx2.Response:
    """GET the lookup until `ready(response)` holds; processing is asynchronous."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/track/{number}")
        if ready(response):
            return response
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{number} not as expected after {timeout}s: {response.status_code} {response.text}"
            )
        time.sleep(0.05)


def assert_json_error(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["reason"], error
    return error


def test_new_user_journey(server_factory: ServerFactory) -> None:
    server: Server = server_factory()
    server.start()
    # A new user creates keys in a second terminal while the server runs.
    key = create_key(server.data_dir, "depot", "scans:write", "packages:write")
    scans_only = create_key(server.data_dir, "scanner", "scans:write")
    packages_only = create_key(server.data_dir, "shop", "packages:write")
    assert key.startswith("psk_"), key

    auth = {"Authorization": f"Bearer {key}"}
    with httpx2.Client(base_url=server.base_url, timeout=30.0) as client:
        # -- register ------------------------------------------------------------------------
        registration = {
            "tracking_number": NUMBER,
            "service_type": "GROUND",
            "shipper": SHIPPER,
            "recipient": RECIPIENT,
            "origin": ORIGIN,
            "destination": DESTINATION,
            "weight": {"value": 1.2, "unit": "kg"},
        }
        response = client.post("/v1/packages", json=registration, headers=auth)
        assert response.status_code == 202, response.text
        assert response.json() == {
            "tracking_number": NUMBER,
            "carrier": "ups",
            "tracking_url": f"/v1/track/{NUMBER}",
        }
        assert response.headers["location"] == f"/v1/track/{NUMBER}"

        # -- scans: out of order, resends and bad items, over three requests ------------------
        s = build_scans()
        bad_number = {**s[5], "tracking_number": NUMBER[:-1] + "8"}
        no_facility = {k: v for k, v in s[9].items() if k != "facility_id"}
        naive = {**s[4], "timestamp": s[4]["timestamp"][:19]}
        unknown_code = {**s[6], "status_code": "TELEPORTED"}
        exception_without_code = {k: v for k, v in s[7].items() if k != "exception_code"}
        in_utc = {**s[3], "timestamp": rfc3339(_instant(s[3]), 0)}  # same instant, other offset
        typed_by_hand = {**s[18], "tracking_number": "1z5r 8939 0357 5671 27"}
        other_employee = {**s[0], "employee_id": "EMP-1"}  # same scan key: a resend
        future = {**s[2], "timestamp": rfc3339(_instant(s[2]) + timedelta(days=30), -300)}

        requests: list[tuple[list[Any], dict[str, int], list[tuple[int, str | None, str]]]] = [
            (
                [s[10], s[3], bad_number, s[18], s[0], no_facility, s[7], s[15], naive, s[12]],
                {"accepted": 7, "rejected": 3, "duplicates": 0},
                [
                    (2, "tracking_number", "invalid_tracking_number"),
                    (5, "facility_id", "missing"),
                    (8, "timestamp", "invalid"),
                ],
            ),
            (
                # s[10] again, s[3] with its time in UTC, s[1] twice in the same request
                [
                    *(s[1], s[10], unknown_code, s[19], s[5], 42, in_utc, s[8], s[14], s[1]),
                    *(s[16], exception_without_code, s[6]),
                ],
                {"accepted": 7, "rejected": 3, "duplicates": 3},
                [
                    (2, "status_code", "invalid"),
                    (5, None, "invalid"),
                    (11, "exception_code", "missing"),
                ],
            ),
            (
                [
                    *(s[17], s[2], s[4], s[9], s[11], s[13], typed_by_hand, s[15]),
                    *(other_employee, "not a scan", future),
                ],
                {"accepted": 6, "rejected": 2, "duplicates": 3},
                [(9, None, "invalid"), (10, "timestamp", "invalid")],
            ),
        ]
        for number, (items, counts, errors) in enumerate(requests):
            response = client.post("/v1/scans", json={"scans": items}, headers=auth)
            assert response.status_code == 200, (number, response.text)
            body = response.json()
            assert {k: body[k] for k in counts} == counts, (number, body)
            got = [(e["index"], e["field"], e["code"]) for e in body["errors"]]
            assert got == errors, (number, body["errors"])
            assert all(e["reason"] for e in body["errors"]), body["errors"]

        # -- the lookup ----------------------------------------------------------------------
        response = wait_for(
            client,
            NUMBER,
            lambda r: r.status_code == 200 and len(r.json()["events"]) >= 20,
        )
        document = response.json()
        ts = [scan["timestamp"] for scan in s]
        expected = [
            (ts[19], "ARRIVED_AT_FACILITY", True),
            (ts[18], "DELIVERED", False),
            (ts[17], "OUT_FOR_DELIVERY", False),  # same instant: ordered by progress
            (ts[16], "DELIVERY_ATTEMPTED", False),
            (ts[15], "OUT_FOR_DELIVERY", False),
            (ts[14], "ARRIVED_AT_FACILITY", False),
            (ts[13], "DEPARTED_FACILITY", False),
            (ts[12], "PROCESSED_AT_FACILITY", False),
            (ts[11], "ARRIVED_AT_FACILITY", False),
            (ts[10], "IN_TRANSIT", False),
            (ts[9], "DEPARTED_FACILITY", False),
            (ts[8], "PROCESSED_AT_FACILITY", False),
            (ts[7], "EXCEPTION", False),
            (ts[6], "ARRIVED_AT_FACILITY", False),
            (ts[5], "IN_TRANSIT", False),
            (ts[4], "DEPARTED_FACILITY", False),
            (ts[3], "PROCESSED_AT_FACILITY", False),
            (ts[2], "ARRIVED_AT_FACILITY", False),
            (ts[1], "PICKED_UP", False),
            (ts[0], "LABEL_CREATED", False),
        ]
        events = [
            (e["timestamp"], e["status_code"], e["after_delivery"]) for e in document["events"]
        ]
        assert events == expected, document["events"]
        assert [e["facility_id"] for e in document["events"]] == [t[3] for t in TIMELINE][::-1]
        assert document["tracking_number"] == NUMBER
        assert document["carrier"] == "ups"
        assert document["service_type"] == "GROUND"
        assert document["status"] == "DELIVERED"
        assert document["status_detail"] is None
        assert document["origin"] == {"city": "Atlanta", "region": "GA", "country": "US"}
        assert document["destination"] == PUBLIC_SFO
        assert document["last_location"] == PUBLIC_SFO
        assert document["last_updated"] == ts[19]
        assert set(document) == {
            "tracking_number",
            "carrier",
            "service_type",
            "status",
            "status_detail",
            "last_location",
            "origin",
            "destination",
            "estimated_delivery",
            "last_updated",
            "events",
            "proof_of_delivery",
        }
        for event in document["events"]:
            assert set(event) == {
                "timestamp",
                "status_code",
                "status",
                "exception_code",
                "facility_id",
                "location",
                "description",
                "after_delivery",
            }, event
            assert event["description"], event
            assert event["location"] is None or set(event["location"]) == {
                "city",
                "region",
                "country",
            }, event
        by_code = {e["status_code"]: e for e in document["events"]}
        assert by_code["EXCEPTION"]["exception_code"] == "WEATHER_DELAY"
        assert by_code["EXCEPTION"]["status"] == "EXCEPTION"
        assert by_code["DELIVERY_ATTEMPTED"]["status"] == "ATTEMPTED_DELIVERY"
        assert by_code["IN_TRANSIT"]["location"] is None
        # what the registration and the scans said privately never reaches the public document
        text = response.text
        leaked = [p for p in PRIVATE_STRINGS if p.lower() in text.lower()]
        assert not leaked, f"private data in the public document: {leaked}\n{text}"

        # the number is found however it is typed
        assert client.get(f"/v1/track/{NUMBER.lower()}").json() == document

        # -- caching -------------------------------------------------------------------------
        etag = response.headers["etag"]
        assert etag.startswith('"'), etag
        assert etag.endswith('"'), etag
        assert response.headers["cache-control"] == "public, max-age=3600"
        for tag in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
            cached = client.get(f"/v1/track/{NUMBER}", headers={"If-None-Match": tag})
            assert cached.status_code == 304, (tag, cached.status_code)
            assert cached.content == b""
            assert cached.headers["etag"] == etag
        fresh = client.get(f"/v1/track/{NUMBER}", headers={"If-None-Match": '"something-else"'})
        assert fresh.status_code == 200
        assert fresh.json() == document

        # an unregistered number starts from its first scan; while moving it is cached briefly,
        # and a new scan changes its ETag
        side = {
            "tracking_number": SIDE_NUMBER,
            "facility_id": "ORD-HUB",
            "timestamp": rfc3339(recent_start(days_ago=1), -360),
            "status_code": "ARRIVED_AT_FACILITY",
        }
        response = client.post("/v1/scans", json={"scans": [side]}, headers=auth)
        assert response.json()["accepted"] == 1, response.text
        moving = wait_for(client, SIDE_NUMBER, lambda r: r.status_code == 200)
        assert moving.headers["cache-control"] == "public, max-age=10"
        side_document = moving.json()
        assert side_document["status"] == "IN_TRANSIT"
        assert side_document["carrier"] == "ups"
        assert side_document["service_type"] is None
        assert side_document["origin"] is None
        old_etag = moving.headers["etag"]
        later = {**side, "status_code": "DEPARTED_FACILITY", "timestamp": _later(side, 2)}
        assert client.post("/v1/scans", json={"scans": [later]}, headers=auth).status_code == 200
        changed = wait_for(
            client,
            SIDE_NUMBER,
            lambda r: r.status_code == 200 and len(r.json()["events"]) == 2,
        )
        assert changed.headers["etag"] != old_etag
        again = client.get(f"/v1/track/{SIDE_NUMBER}", headers={"If-None-Match": old_etag})
        assert again.status_code == 200

        # -- errors --------------------------------------------------------------------------
        for malformed in ("NOT-A-NUMBER", NUMBER[:-1] + "8", "1Z"):
            error = assert_json_error(
                client.get(f"/v1/track/{malformed}"), 400, "malformed_tracking_number"
            )
            assert error["field"] == "tracking_number"
        assert_json_error(client.get(f"/v1/track/{UNKNOWN_VALID}"), 404, "not_found")

        one_scan = {"scans": [s[0]]}
        for path, body in (("/v1/scans", one_scan), ("/v1/packages", registration)):
            for headers in ({}, {"Authorization": "Bearer psk_000000000000_nope"}, {"X": "y"}):
                refused = client.post(path, json=body, headers=headers)
                assert_json_error(refused, 401, "unauthorized")
                assert refused.headers.get("www-authenticate") == "Bearer"
        assert_json_error(
            client.post(
                "/v1/packages",
                json=registration,
                headers={"Authorization": f"Bearer {scans_only}"},
            ),
            403,
            "forbidden",
        )
        assert_json_error(
            client.post(
                "/v1/scans", json=one_scan, headers={"Authorization": f"Bearer {packages_only}"}
            ),
            403,
            "forbidden",
        )

        # -- batch size ----------------------------------------------------------------------
        # 5000 items is the limit: answered item by item (here all refused, so nothing is stored)
        at_limit = client.post("/v1/scans", json={"scans": [0] * 5000}, headers=auth)
        assert at_limit.status_code == 200, at_limit.text[:500]
        assert at_limit.json()["rejected"] == 5000
        # 5001 valid scans are refused whole, and none of them is stored
        over_number = UNKNOWN_VALID
        start = recent_start(days_ago=2)
        over = [
            {
                "tracking_number": over_number,
                "facility_id": "ORD-HUB",
                "timestamp": rfc3339(start + timedelta(seconds=i), 0),
                "status_code": "IN_TRANSIT",
            }
            for i in range(5001)
        ]
        error = assert_json_error(
            client.post("/v1/scans", json={"scans": over}, headers=auth), 413, "batch_too_large"
        )
        assert error["field"] == "scans"
        assert "5000" in error["reason"], error
        # a scan sent after the refused batch is processed after it would have been
        sentinel = {**side, "status_code": "IN_TRANSIT", "timestamp": _later(side, 5)}
        assert client.post("/v1/scans", json={"scans": [sentinel]}, headers=auth).status_code == 200
        wait_for(
            client,
            SIDE_NUMBER,
            lambda r: r.status_code == 200 and len(r.json()["events"]) == 3,
        )
        assert_json_error(client.get(f"/v1/track/{over_number}"), 404, "not_found")

    assert server.running, server.log_tail()
    log = server.log_text()
    assert "Traceback" not in log, log


def _instant(scan: Scan) -> datetime:
    return datetime.fromisoformat(scan["timestamp"])


def _later(scan: Scan, hours: int) -> str:
    moment = _instant(scan) + timedelta(hours=hours)
    return rfc3339(moment, -360)
