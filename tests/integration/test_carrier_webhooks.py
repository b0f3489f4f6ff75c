"""Carrier pushes through the app: authentication per carrier, replays, rotation, bad bodies, the
UPS token endpoint, unknown-code metrics and the carrier a shipper names at registration."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.carriers.push_auth import issue_ups_token
from parcelstream.settings import Settings
from tests.integration.conftest import Api, make_keys

DATA = Path(__file__).parents[1] / "data" / "carriers"
FEDEX_TOKEN = "ParcelStreamExampleToken2026x"
FEDEX_NEW = "RotatedFedexToken2027abcdefXYZ"
USPS_SECRET = "ExampleUspsSecret0123456789ABCDE"
USPS_OLD = "OlderUspsSecret0123456789ABCDEFG"
UPS_CLIENT = "ups-pubsub-client"
UPS_SECRET = "ups-client-secret-new"
UPS_OLD_SECRET = "ups-client-secret-old"
FEDEX_TN = "782901654316"
USPS_TN = "9405508988657321041195"
UPS_TN = "1Z2R8V410344120767"


def carrier_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "fedex_webhook_secrets": f"{FEDEX_NEW},{FEDEX_TOKEN}",
        "usps_webhook_secrets": f"{USPS_SECRET},{USPS_OLD}",
        "ups_webhook_client_id": UPS_CLIENT,
        "ups_webhook_client_secrets": f"{UPS_SECRET},{UPS_OLD_SECRET}",
        "ups_webhook_credentials": "v1-credential",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = carrier_settings(tmp_path / "data")
    keys = make_keys(settings)
    with TestClient(create_app(settings, with_processor=True)) as client:
        yield Api(client, keys)


def push(api: Api, carrier: str, body: bytes, **headers: str) -> httpx2.Response:
    return api.client.post(f"/v1/webhooks/carrier/{carrier}", content=body, headers=headers)


def fedex_signature(body: bytes, secret: str = FEDEX_TOKEN) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def usps_envelope(secret: str = USPS_SECRET, at: datetime | None = None) -> tuple[bytes, str]:
    """The example's payload in a fresh envelope, signed over timestamp + payload."""
    example = json.loads((DATA / "usps_webhook.json").read_bytes())
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    envelope = {"subscriptionId": example["subscriptionId"], "timestamp": stamp}
    envelope["payload"] = example["payload"]
    digest = hmac.new(secret.encode(), (stamp + example["payload"]).encode(), hashlib.sha256)
    return json.dumps(envelope).encode(), base64.b64encode(digest.digest()).decode()


def events_of(api: Api, tn: str, count: int) -> list[dict[str, Any]]:
    document = api.wait_for(tn, lambda d: len(d["events"]) >= count)
    events: list[dict[str, Any]] = document["events"]
    return events


# --- FedEx ---------------------------------------------------------------------------------------


def test_fedex_signed_push_is_accepted_and_visible_after_processing(api: Api) -> None:
    body = (DATA / "fedex_webhook.json").read_bytes()
    response = push(api, "fedex", body, **{"fdx-signature": fedex_signature(body)})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 8
    document = api.wait_for(FEDEX_TN, lambda d: d["status"] == "DELIVERED")
    assert document["carrier"] == "fedex"
    assert len(document["events"]) == 8
    assert document["events"][0]["description"] == "Delivered [DL]"
    weather = [e for e in document["events"] if e["status_code"] == "EXCEPTION"]
    assert weather[0]["exception_code"] == "WEATHER_DELAY"
    assert weather[0]["description"] == "Delay: Weather delay in the region [DY X19]"


def test_fedex_forged_push_is_refused_with_a_json_reason(api: Api) -> None:
    body = (DATA / "fedex_webhook.json").read_bytes()
    forged = push(
        api,
        "fedex",
        body,
        **{"fdx-signature": fedex_signature(body, "Guessed1xyzabcdefghijklmnop")},
    )
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "unauthorized"
    assert forged.json()["error"]["field"] == "fdx-signature"
    unsigned = push(api, "fedex", body)
    assert unsigned.status_code == 401
    assert api.track(FEDEX_TN).status_code == 404


def test_fedex_replay_is_answered_2xx_and_changes_nothing(api: Api) -> None:
    body = (DATA / "fedex_webhook.json").read_bytes()
    headers = {"fdx-signature": fedex_signature(body)}
    assert push(api, "fedex", body, **headers).status_code == 200
    first = api.wait_for(FEDEX_TN, lambda d: d["status"] == "DELIVERED")
    replay = push(api, "fedex", body, **headers)
    assert replay.status_code == 200
    assert replay.json()["duplicates"] == 8
    # An older push (poll-era history) arriving late, out of order, moves nothing back.
    older = (DATA / "fedex_track_response.json").read_bytes()
    assert push(api, "fedex", older, **{"fdx-signature": fedex_signature(older)}).status_code == 200
    time.sleep(0.3)
    after = api.track(FEDEX_TN).json()
    assert after["status"] == "DELIVERED"
    assert after["events"] == first["events"]


def test_fedex_secret_rotation_accepts_old_and_new_and_refuses_a_third(api: Api) -> None:
    body = (DATA / "fedex_webhook.json").read_bytes()
    for secret in (FEDEX_TOKEN, FEDEX_NEW):
        assert (
            push(api, "fedex", body, **{"fdx-signature": fedex_signature(body, secret)}).status_code
            == 200
        )
    third = push(
        api,
        "fedex",
        body,
        **{"fdx-signature": fedex_signature(body, "ThirdToken2026abcdefghijklm")},
    )
    assert third.status_code == 401


def test_fedex_malformed_body_is_400_naming_the_field(api: Api) -> None:
    for body, field in (
        (b"{not json", None),
        (b'{"output": {"completeTrackResults": 7}}', "output.completeTrackResults"),
    ):
        response = push(api, "fedex", body, **{"fdx-signature": fedex_signature(body)})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == field


def test_fedex_push_with_one_bad_event_keeps_the_good_ones(api: Api) -> None:
    example = json.loads((DATA / "fedex_webhook.json").read_bytes())
    events = example["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"]
    events[2]["date"] = "yesterday"
    body = json.dumps(example).encode()
    response = push(api, "fedex", body, **{"fdx-signature": fedex_signature(body)})
    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (7, 1)
    assert answer["errors"][0]["field"].endswith("trackResults[0].scanEvents[2].date")
    assert len(events_of(api, FEDEX_TN, 7)) == 7


# --- USPS ----------------------------------------------------------------------------------------


def test_usps_fresh_signed_push_is_accepted_and_a_replay_deduplicated(api: Api) -> None:
    body, signature = usps_envelope()
    first = push(api, "usps", body, **{"X-HMAC": signature})
    assert first.status_code == 200, first.text
    document = api.wait_for(USPS_TN, lambda d: d["status"] == "ATTEMPTED_DELIVERY")
    assert document["status_detail"] == "RECIPIENT_UNAVAILABLE"
    assert document["events"][0]["timestamp"] == "2026-11-22T16:17:00-07:00"
    again = push(api, "usps", body, **{"X-HMAC": signature})
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1


def test_usps_old_secret_accepted_forged_and_stale_refused(api: Api) -> None:
    body, signature = usps_envelope(USPS_OLD)
    assert push(api, "usps", body, **{"X-HMAC": signature}).status_code == 200
    body, signature = usps_envelope("ThirdSecret0123456789ABCDEFGHIJK")
    forged = push(api, "usps", body, **{"X-HMAC": signature})
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "unauthorized")
    # The SPEC's own example, signed correctly, was signed days ago: stale.
    example = (DATA / "usps_webhook.json").read_bytes()
    stale = push(api, "usps", example, **{"X-HMAC": "wAUqrm4cFtN0v3XoffD1pVhXU2cGWE39ExMFVfgK8jA="})
    assert stale.status_code == 409
    assert stale.json()["error"] == {
        "code": "stale_push",
        "field": "timestamp",
        "reason": stale.json()["error"]["reason"],
    }


def test_usps_signed_envelope_with_unreadable_payload_is_400(api: Api) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = (
        '{"trackingNumber": "9405508988657321041195", "trackingEvents": [{"eventCode": "56"}]}'
    )
    body = json.dumps({"subscriptionId": "s", "timestamp": stamp, "payload": payload}).encode()
    digest = hmac.new(USPS_SECRET.encode(), (stamp + payload).encode(), hashlib.sha256).digest()
    response = push(api, "usps", body, **{"X-HMAC": base64.b64encode(digest).decode()})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "payload.trackingEvents[0].eventTimestamp"


def test_usps_example_accepted_when_tolerance_allows(tmp_path: Path) -> None:
    settings = carrier_settings(tmp_path / "data", usps_webhook_tolerance_seconds=10**9)
    with TestClient(create_app(settings, with_processor=False)) as client:
        example = (DATA / "usps_webhook.json").read_bytes()
        response = client.post(
            "/v1/webhooks/carrier/usps",
            content=example,
            headers={"X-HMAC": "wAUqrm4cFtN0v3XoffD1pVhXU2cGWE39ExMFVfgK8jA="},
        )
        assert response.status_code == 200, response.text


# --- UPS -----------------------------------------------------------------------------------------


def ups_token(api: Api, client_id: str = UPS_CLIENT, secret: str = UPS_SECRET) -> httpx2.Response:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return api.client.post(
        "/v1/webhooks/carrier/ups/oauth/token",
        content=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def ups_push(api: Api, token: str, api_key: str = UPS_CLIENT) -> httpx2.Response:
    return push(
        api,
        "ups",
        (DATA / "ups_webhook.json").read_bytes(),
        Authorization=f"Bearer {token}",
        **{"x-api-key": api_key, "User-Agent": "UPSPubSubTrackingService"},
    )


def test_ups_token_endpoint_issues_tokens_the_webhook_accepts(api: Api) -> None:
    issued = ups_token(api)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    response = ups_push(api, body["access_token"])
    assert response.status_code == 200, response.text
    document = api.wait_for(UPS_TN, lambda d: d["status"] == "ATTEMPTED_DELIVERY")
    assert document["events"][0]["timestamp"] == "2026-11-20T15:22:09-05:00"
    # UPS signs nothing: a replay is a harmless duplicate.
    assert ups_push(api, body["access_token"]).json()["duplicates"] == 1
    # The old client secret still gets a token while it rotates.
    assert ups_token(api, secret=UPS_OLD_SECRET).status_code == 200


def test_ups_token_endpoint_refuses_wrong_client_credentials(api: Api) -> None:
    refused = ups_token(api, secret="wrong")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert ups_token(api, client_id="someone").status_code == 401


def test_ups_push_with_expired_forged_or_mismatched_token_is_refused(api: Api) -> None:
    long_ago = (time.time_ns() // 1000) - 2 * 3600 * 1_000_000
    expired = issue_ups_token(UPS_CLIENT, UPS_SECRET, long_ago, 3600 * 1_000_000)
    response = ups_push(api, expired)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["reason"]
    forged = issue_ups_token(UPS_CLIENT, "not-our-secret", time.time_ns() // 1000, 3_600_000_000)
    assert ups_push(api, forged).status_code == 401
    token = ups_token(api).json()["access_token"]
    wrong_key = ups_push(api, token, api_key="another-client")
    assert (wrong_key.status_code, wrong_key.json()["error"]["field"]) == (401, "x-api-key")
    assert api.track(UPS_TN).status_code == 404


def test_ups_v1_static_credential_is_accepted(api: Api) -> None:
    body = (DATA / "ups_webhook.json").read_bytes()
    assert push(api, "ups", body, Authorization="Bearer v1-credential").status_code == 200
    assert push(api, "ups", body, Authorization="Bearer v2-guess").status_code == 401


def test_ups_malformed_push_is_400_naming_the_field(api: Api) -> None:
    token = ups_token(api).json()["access_token"]
    body = json.dumps(
        {
            "trackingNumber": UPS_TN,
            "activityStatus": {"type": "I"},
            "gmtActivityDate": "2026-11-20",
            "gmtActivityTime": "202209",
        }
    ).encode()
    response = push(api, "ups", body, Authorization=f"Bearer {token}", **{"x-api-key": UPS_CLIENT})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "gmtActivityDate"


# --- the rest ------------------------------------------------------------------------------------


def test_unknown_carrier_or_unconfigured_pushes_are_404(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings, with_processor=False)) as client:
        body = (DATA / "fedex_webhook.json").read_bytes()
        for carrier in ("fedex", "dhl"):
            response = client.post(f"/v1/webhooks/carrier/{carrier}", content=body)
            assert response.status_code == 404
            assert response.json()["error"]["field"] == "carrier_id"


def test_unknown_carrier_codes_are_kept_and_counted_in_metrics(api: Api) -> None:
    example = json.loads((DATA / "fedex_webhook.json").read_bytes())
    events = example["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"]
    events[1]["eventType"] = "QZ"  # OD, now a code nobody knows; its class says in transit
    body = json.dumps(example).encode()
    assert push(api, "fedex", body, **{"fdx-signature": fedex_signature(body)}).status_code == 200
    document = api.wait_for(FEDEX_TN, lambda d: d["status"] == "DELIVERED")
    kept = [e for e in document["events"] if e["description"].endswith("[QZ]")]
    assert kept
    assert kept[0]["status_code"] == "IN_TRANSIT"
    metrics = api.client.get("/metrics").text
    assert 'parcelstream_carrier_unknown_codes_total{carrier="fedex",code="QZ"}' in metrics


def test_registered_carrier_wins_over_detection_and_must_be_known(api: Api) -> None:
    # A UPS-format number that a shipper says USPS carries (e.g. a hand-off): the stored carrier wins.
    tn = "1Z5R89390357567127"
    response = api.post(
        "/v1/packages", {"tracking_number": tn, "carrier": "USPS"}, scope="packages:write"
    )
    assert (response.status_code, response.json()["carrier"]) == (202, "usps")
    assert api.wait_for(tn, lambda d: True)["carrier"] == "usps"
    refused = api.post(
        "/v1/packages", {"tracking_number": tn, "carrier": "acme"}, scope="packages:write"
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "carrier"
