"""The public contract over HTTP, in-process: ingest, lookup, auth and the error shape."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api

TN = "1Z5R89390357567127"
OTHER = "1Z879E930346834440"
DELIVERED_TN = "1Z410E7W0392751591"


def scan(
    tn: str = TN, hour: int = 8, code: str = "ARRIVED_AT_FACILITY", **extra: Any
) -> dict[str, Any]:
    return {
        "tracking_number": tn,
        "facility_id": "ATL-HUB-01",
        "timestamp": f"2026-11-24T{hour:02d}:15:00-05:00",
        "status_code": code,
        "employee_id": "E1042",
        "location": {"city": "Atlanta", "region": "GA", "postal_code": "30336", "country": "US"},
        **extra,
    }


PACKAGE = {
    "tracking_number": TN,
    "service_type": "GROUND",
    "shipper": {"name": "Acme Widgets", "email": "ship@acme.example", "phone": "+14155550100"},
    "recipient": {"name": "Dana Whitfield", "email": "dana@example.com", "phone": "+14045550199"},
    "origin": {
        "line1": "1 Industrial Way",
        "city": "Memphis",
        "region": "TN",
        "postal_code": "38118",
        "country": "US",
    },
    "destination": {
        "line1": "42 Peachtree Lane",
        "city": "Atlanta",
        "region": "GA",
        "postal_code": "30301",
        "country": "us",
    },
    "weight": {"value": 2.5, "unit": "lb"},
}


def test_registered_package_is_label_created_without_personal_data(api: Api) -> None:
    response = api.post("/v1/packages", PACKAGE, scope="packages:write")
    assert response.status_code == 202
    assert response.json() == {
        "tracking_number": TN,
        "carrier": "ups",
        "tracking_url": f"/v1/track/{TN}",
    }

    document = api.wait_for(TN, lambda d: True)
    assert document["status"] == "LABEL_CREATED"
    assert document["carrier"] == "ups"
    assert document["destination"] == {"city": "Atlanta", "region": "GA", "country": "US"}
    body = api.track(TN).text
    for private in (
        "Dana",
        "Whitfield",
        "dana@",
        "+1404",
        "Peachtree",
        "30301",
        "Acme",
        "Industrial",
        "38118",
    ):
        assert private not in body


def test_scans_answer_counts_and_every_rejection_names_index_and_field(api: Api) -> None:
    response = api.post(
        "/v1/scans",
        {
            "scans": [
                scan(hour=8),
                scan(hour=8),  # a resend inside the batch
                scan(tn="1Z5R89390357567128"),  # check digit off by one
                {k: v for k, v in scan(hour=9).items() if k != "facility_id"},
                scan(hour=10, timestamp="2026-11-24T10:15:00"),
                scan(hour=11, code="TELEPORTED"),
                scan(hour=12, location={"city": "Atlanta", "country": "USA"}),
                42,
                scan(hour=13, code="EXCEPTION"),
            ]
        },
        scope="scans:write",
    )
    assert response.status_code == 200
    outcome = response.json()
    assert (outcome["accepted"], outcome["duplicates"], outcome["rejected"]) == (1, 1, 7)
    assert [(e["index"], e["field"]) for e in outcome["errors"]] == [
        (2, "tracking_number"),
        (3, "facility_id"),
        (4, "timestamp"),
        (5, "status_code"),
        (6, "location.country"),
        (7, None),
        (8, "exception_code"),
    ]
    assert all(e["reason"] for e in outcome["errors"])

    again = api.post("/v1/scans", {"scans": [scan(hour=8)]}, scope="scans:write").json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


def test_lookup_shows_status_and_newest_first_history(api: Api) -> None:
    api.post(
        "/v1/scans",
        {
            "scans": [
                scan(hour=15, code="OUT_FOR_DELIVERY"),
                scan(hour=6, code="PICKED_UP"),
                scan(hour=9, code="DEPARTED_FACILITY"),
            ]
        },
        scope="scans:write",
    )
    document = api.wait_for(TN, lambda d: len(d["events"]) == 3)
    assert document["status"] == "OUT_FOR_DELIVERY"
    assert [e["status_code"] for e in document["events"]] == [
        "OUT_FOR_DELIVERY",
        "DEPARTED_FACILITY",
        "PICKED_UP",
    ]
    newest = document["events"][0]
    assert newest["timestamp"] == "2026-11-24T15:15:00-05:00"
    assert newest["location"] == {"city": "Atlanta", "region": "GA", "country": "US"}
    assert "employee_id" not in newest
    assert "E1042" not in api.track(TN).text
    assert document["last_updated"] == "2026-11-24T15:15:00-05:00"


def test_unregistered_number_is_created_from_its_first_scan_and_master_data_can_follow(
    api: Api,
) -> None:
    api.post("/v1/scans", {"scans": [scan(tn=OTHER, code="PICKED_UP")]}, scope="scans:write")
    document = api.wait_for(OTHER, lambda d: d["status"] == "PICKED_UP")
    assert document["carrier"] == "ups"
    assert document["service_type"] is None

    api.post("/v1/packages", {**PACKAGE, "tracking_number": OTHER}, scope="packages:write")
    document = api.wait_for(OTHER, lambda d: d["service_type"] == "GROUND")
    assert document["status"] == "PICKED_UP"


def test_etag_and_conditional_get(api: Api) -> None:
    api.post("/v1/scans", {"scans": [scan()]}, scope="scans:write")
    # the EDD worker patches the estimate in after the processor: wait for the settled document
    api.wait_for(TN, lambda d: d["estimated_delivery"] is not None)
    first = api.track(TN)
    assert first.headers["cache-control"] == "public, max-age=10"
    assert first.headers["access-control-allow-origin"] == "*"
    etag = first.headers["etag"]
    unchanged = api.track(TN, **{"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    api.post("/v1/scans", {"scans": [scan(hour=10, code="DEPARTED_FACILITY")]}, scope="scans:write")
    api.wait_for(TN, lambda d: len(d["events"]) == 2)
    assert api.track(TN, **{"If-None-Match": etag}).status_code == 200


def test_delivered_packages_are_cached_longer(api: Api) -> None:
    api.post("/v1/scans", {"scans": [scan(tn=DELIVERED_TN, code="DELIVERED")]}, scope="scans:write")
    api.wait_for(DELIVERED_TN, lambda d: d["status"] == "DELIVERED")
    assert api.track(DELIVERED_TN).headers["cache-control"] == "public, max-age=3600"


def test_lookup_normalises_spaces_and_case(api: Api) -> None:
    api.post("/v1/scans", {"scans": [scan()]}, scope="scans:write")
    api.wait_for(TN, lambda d: True)
    assert api.track("1z5r 8939 0357 5671 27").json()["tracking_number"] == TN


def test_malformed_number_is_400_and_unknown_is_404(api: Api) -> None:
    bad = api.track("1Z5R89390357567128")
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "tracking_number"
    unknown = api.track(OTHER)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_keys_and_scopes_are_enforced(api: Api) -> None:
    no_key = api.client.post("/v1/scans", json={"scans": []})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "unauthorized"
    assert no_key.headers["www-authenticate"] == "Bearer"
    wrong = api.client.post(
        "/v1/scans", json={"scans": []}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert api.post("/v1/scans", {"scans": []}, scope="packages:write").status_code == 403
    assert api.post("/v1/packages", PACKAGE, scope="scans:write").status_code == 403
    assert api.post("/v1/scans", {"scans": []}, scope="admin").status_code == 200


def test_batches_over_the_limit_get_413_naming_it(api: Api) -> None:
    response = api.post("/v1/scans", {"scans": [scan()] * 5001}, scope="scans:write")
    assert response.status_code == 413
    assert "5000" in response.json()["error"]["reason"]
    assert api.post("/v1/scans", {"scans": [scan()] * 5000}, scope="scans:write").status_code == 200


def test_malformed_bodies_are_400_with_a_reason(api: Api) -> None:
    response = api.client.post(
        "/v1/scans", content=b"{not json", headers={"Authorization": f"Bearer {api.keys['admin']}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    wrong_shape = api.post("/v1/scans", [scan()])
    assert wrong_shape.status_code == 400
    assert wrong_shape.json()["error"]["field"] == "scans"


def test_package_validation_names_the_field(api: Api) -> None:
    bad_email = {**PACKAGE, "recipient": {"email": "not-an-address", "phone": "555-0199"}}
    response = api.post("/v1/packages", bad_email, scope="packages:write")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["recipient.email", "recipient.phone"]
    bad_weight = api.post("/v1/packages", {**PACKAGE, "weight": {"value": 1, "unit": "stone"}})
    assert bad_weight.json()["error"]["field"] == "weight.unit"


def test_ambiguous_number_needs_a_carrier(api: Api) -> None:
    ambiguous = "4201028200009261290113185417468510"  # valid as USPS IMpb and as FedEx (34)
    response = api.post("/v1/packages", {"tracking_number": ambiguous}, scope="packages:write")
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "ambiguous_carrier",
        "field": "carrier",
        "reason": "the number fits several carriers (fedex, usps): name one",
    }
    chosen = api.post("/v1/packages", {"tracking_number": ambiguous, "carrier": "usps"})
    assert chosen.status_code == 202
    assert chosen.json()["carrier"] == "usps"


def test_health_endpoints_and_json_404(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ok"}
    missing = api.client.get("/v2/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
